package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// dbPath is the database the global flags name.
func (e *env) dbPath(c *cli.Command) (string, error) {
	if db := c.String("db"); db != "" {
		return db, nil
	}
	return defaultDB(e.getenv)
}

// openEngine opens the engine from the global flags.
func (e *env) openEngine(ctx context.Context, c *cli.Command, readOnly bool) (*simsearch.Engine, error) {
	opts, err := e.engineOptions(c, readOnly)
	if err != nil {
		return nil, err
	}
	eng, err := simsearch.Open(ctx, opts)
	if err != nil {
		return nil, engineHint(err, c.String("model"), opts.DB)
	}
	return eng, nil
}

// engineOptions are the engine's options from the global flags.
func (e *env) engineOptions(c *cli.Command, readOnly bool) (*simsearch.Options, error) {
	db, err := e.dbPath(c)
	if err != nil {
		return nil, err
	}
	dir, err := e.modelsDir(c)
	if err != nil {
		return nil, err
	}
	return &simsearch.Options{
		DB:          db,
		ModelsDir:   dir,
		Model:       c.String("model"),
		Pooling:     model.Pooling(c.String("pooling")),
		Threads:     int(c.Int("threads")),
		LockTimeout: c.Duration("lock-timeout"),
		ReadOnly:    readOnly,
		Log:         e.stderr,
		Runtime:     &extractor.RuntimeOptions{Getenv: e.getenv},
	}, nil
}

// engineHint adds, once, what the user should do about common failures.
func engineHint(err error, name, db string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist) && !errors.Is(err, model.ErrNotInstalled):
		return fmt.Errorf("no database at %s\nhint: run `simsearch index PATH...` first, or pass --db (or set SIMSEARCH_DB) to the database you built", db)
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("%w\nhint: wait for the other simsearch process to finish, or use --db for another database", err)
	case errors.Is(err, store.ErrModelMismatch):
		return fmt.Errorf("%w\nhint: pass the --model and --pooling the database was built with (named above), or use --db for a new database", err)
	case errors.Is(err, store.ErrSchemaTooNew):
		return fmt.Errorf("%w\nhint: this database was written by a newer simsearch; upgrade simsearch", err)
	case errors.Is(err, store.ErrCorrupt):
		return fmt.Errorf("%w\nhint: run `simsearch check --repair --db %s` (it keeps the damaged file), or move the file away and index again", err, db)
	}
	return modelHint(err, name)
}

var lockTimeoutFlag = &cli.DurationFlag{Name: "lock-timeout", DefaultText: "2s, 10s for queries", Usage: "how long to wait for another simsearch process holding the database"}

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/model"
)

// dbPath is the database the global flags name.
func (e *env) dbPath(c *cli.Command) (string, error) {
	if db := c.String("db"); db != "" {
		return db, nil
	}
	return defaultDB(e.getenv)
}

// readDB is the read replica the global flags name, "" for none.
func (e *env) readDB(c *cli.Command) string {
	if db := c.String("read-db"); db != "" {
		return db
	}
	return e.getenv("SIMSEARCH_READ_DB")
}

// modelOptions are the global model flags, for a command without a
// database: no --model means simsearch.DefaultModel.
func (e *env) modelOptions(c *cli.Command) (*simsearch.ModelOptions, error) {
	mo, err := e.modelFlags(c)
	if err != nil {
		return nil, err
	}
	if mo.Name == "" {
		mo.Name = simsearch.DefaultModel(mo.Dir)
	}
	return mo, nil
}

// modelFlags are the global model flags as given: Name "" when --model
// is not.
func (e *env) modelFlags(c *cli.Command) (*simsearch.ModelOptions, error) {
	dir, err := e.modelsDir(c)
	if err != nil {
		return nil, err
	}
	return &simsearch.ModelOptions{
		Dir:       dir,
		Name:      c.String("model"),
		Pooling:   model.Pooling(c.String("pooling")),
		Threads:   int(c.Int("threads")),
		Getenv:    e.getenv,
		Log:       e.stderr,
		Engine:    flagOrEnv(c, "engine", e.getenv(simsearch.EngineEnv)),
		Precision: flagOrEnv(c, "precision", e.getenv(simsearch.PrecisionEnv)),
	}, nil
}

// flagOrEnv is the global flag's value when given, else def (its
// environment variable).
func flagOrEnv(c *cli.Command, name, def string) string {
	if v := c.String(name); v != "" {
		return v
	}
	return def
}

// engineMode says what a command needs of the model.
type engineMode int

const (
	readEngine  engineMode = iota // stats: shared lock, the model only if installed
	queryEngine                   // query: as readEngine, the model's session made while the index loads
	writeEngine                   // rm, check --repair: exclusive lock, no embedding
	indexEngine                   // index, dedup: prepare the model first when needed
)

// engine is an open engine and the model prepared for it, closed together.
type engine struct {
	*simsearch.Engine
	model *simsearch.Model
}

func (en *engine) Close() error {
	err := en.Engine.Close()
	if en.model != nil {
		err = errors.Join(err, en.model.Close())
	}
	return err
}

// engineOptions are the engine's options from the global flags.
func (e *env) engineOptions(c *cli.Command, mode engineMode) (*simsearch.Options, error) {
	db, err := e.dbPath(c)
	if err != nil {
		return nil, err
	}
	mo, err := e.modelFlags(c)
	if err != nil {
		return nil, err
	}
	roots, err := e.roots(c)
	if err != nil {
		return nil, err
	}
	opts := &simsearch.Options{
		Roots:        roots,
		DB:           db,
		ModelOptions: mo,
		LockTimeout:  c.Duration("lock-timeout"),
		ReadOnly:     mode == readEngine || mode == queryEngine,
		ReadDB:       e.readDB(c),
		Warm:         mode == queryEngine,
		Log:          e.stderr,
	}
	if mo.Name != "" {
		return opts, nil
	}
	// The database's own model; a new one's default only for a command
	// that creates it (the others fail on a missing file).
	if _, statErr := os.Stat(db); statErr != nil && mode != indexEngine && !simsearch.IsServerDatabase(db) {
		mo.Name = simsearch.DefaultModel(mo.Dir)
		return opts, nil
	}
	ch, err := simsearch.ChooseModel(opts)
	if err != nil {
		return nil, err
	}
	mo.Name, mo.Pooling = ch.Name, ch.Pooling
	if n := ch.Notice(); n != "" && mode == indexEngine {
		fmt.Fprintln(e.stderr, n)
	}
	return opts, nil
}

// openEngine opens the engine from the global flags.
func (e *env) openEngine(ctx context.Context, c *cli.Command, mode engineMode) (*engine, error) {
	opts, err := e.engineOptions(c, mode)
	if err != nil {
		return nil, engineHint(err, c.String("model"), "")
	}
	en := &engine{}
	if mode == indexEngine {
		if en.model, err = simsearch.PrepareModel(ctx, opts.ModelOptions); err != nil {
			return nil, modelHint(err, opts.ModelOptions.Name)
		}
		opts.Model = en.model
	}
	if en.Engine, err = simsearch.Open(ctx, opts); err != nil {
		if en.model != nil {
			en.model.Close()
		}
		return nil, engineHint(err, opts.ModelOptions.Name, opts.DB)
	}
	return en, nil
}

// engineHint adds, once, what the user should do about common failures.
func engineHint(err error, name, db string) error {
	db = simsearch.DisplayDatabase(db)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !errors.Is(err, simsearch.ErrModelNotInstalled):
		return fmt.Errorf("no database at %s\nhint: run `simsearch index PATH...` first, or pass --db (or set SIMSEARCH_DB) to the database you built", db)
	case errors.Is(err, simsearch.ErrLocked):
		return fmt.Errorf("%w\nhint: wait for the other simsearch process to finish, or use --db for another database", err)
	case errors.Is(err, simsearch.ErrModelMismatch):
		return fmt.Errorf("%w\nhint: pass the --model and --pooling the database was built with (named above), or index into a new --db to switch models (vectors of different models, fp32 and int8 alike, are never mixed)", err)
	case errors.Is(err, simsearch.ErrSchemaTooNew):
		return fmt.Errorf("%w\nhint: this database was written by a newer simsearch; upgrade simsearch", err)
	case errors.Is(err, simsearch.ErrCorrupt):
		return fmt.Errorf("%w\nhint: run `simsearch check --repair --db %s` (it keeps the damaged file), or move the file away and index again", err, db)
	}
	return modelHint(err, name)
}

var lockTimeoutFlag = &cli.DurationFlag{Name: "lock-timeout", DefaultText: "2s, 10s for queries", Usage: "how long to wait for another simsearch process holding the database"}

// roots are the named roots of --root, else of $SIMSEARCH_ROOTS; a
// mistake in either is a usage error.
func (e *env) roots(c *cli.Command) ([]simsearch.Root, error) {
	var specs []string
	if r, ok := c.Value("root").(*rootSpecs); ok {
		specs = *r
	}
	var roots []simsearch.Root
	if len(specs) > 0 {
		for _, s := range specs {
			r, err := simsearch.ParseRoot(s)
			if err != nil {
				return nil, usagef("--root %s: %v", s, err)
			}
			roots = append(roots, r)
		}
	} else if list := e.getenv(simsearch.RootsEnv); list != "" {
		var err error
		if roots, err = simsearch.ParseRootList(list); err != nil {
			return nil, usagef("%s: %v", simsearch.RootsEnv, err)
		}
	}
	if err := simsearch.CheckRoots(roots); err != nil {
		if len(specs) == 0 {
			return nil, usagef("%s: %v", simsearch.RootsEnv, err)
		}
		return nil, usagef("--%v", err) // "root NAME=PATH: …", as the flag was given
	}
	return roots, nil
}

// rootSpecs collects each --root as given: a slice flag would split a
// folder's name at its commas.
type rootSpecs []string

func (r *rootSpecs) Set(s string) error { *r = append(*r, s); return nil }
func (r *rootSpecs) String() string     { return strings.Join(*r, " ") }
func (r *rootSpecs) Get() any           { return r }

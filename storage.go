package simsearch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/simsearch/simsearch/internal/pgstore"
	"github.com/simsearch/simsearch/internal/store"
)

// Item is one stored photo: its path, size, modification time, content
// hash, image size and format.
type Item = store.Item

// Failure is a file an index run could not use, with the reason.
type Failure = store.Failure

// Hash is a SHA-256 content hash.
type Hash = store.Hash

// Sentinels from the database, for errors.Is.
var (
	ErrLocked        = store.ErrLocked        // another process holds the database
	ErrModelMismatch = store.ErrModelMismatch // built with another model or pooling
	ErrSchemaTooNew  = store.ErrSchemaTooNew  // written by a newer simsearch
	ErrCorrupt       = store.ErrCorrupt       // not a readable database; see Repair
)

// storage is what the engine needs from where it keeps photos and
// vectors. *store.DB (bbolt, one file) implements it, and *pgstore.DB
// (PostgreSQL with pgvector, shared by several machines) the same
// methods; openStore picks one by the database's name, so that neither
// the indexing and query code nor the CLI changes. Nothing returned may
// alias the backend's memory. The engine holds it behind its named roots
// (rooted, roots.go), so a backend's optional methods that carry no
// paths (the index file, server search, versioned catch-up) are asserted
// on Engine.backend(), never on Engine.db: there they silently fail.
type storage interface {
	Path() string              // where it is, for messages
	Meta() (store.Meta, error) // model, dimensions, versions
	Len() (int, error)         // items stored
	Size() (int64, error)      // bytes used

	// Batched writes: Put stores items with their vectors (replacing the
	// item of the same path) and returns their ids; Delete removes items
	// and vectors.
	Put(recs []store.Record) ([]uint64, error)
	Delete(ids []uint64) error

	Item(id uint64) (store.Item, bool, error)
	ItemByPath(path string) (store.Item, bool, error)
	ForEachItem(fn func(store.Item) error) error
	ItemsAfter(after uint64, limit int) ([]store.Item, error) // a page from a seek to after
	Vector(id uint64) ([]float32, error)
	ForEachVector(fn func(id uint64, v []float32) error) error

	// SetLabels replaces (or adds) the label set of its source on each
	// item given, leaving vectors and the items version alone; it returns
	// how many items it changed, skipping unknown ids.
	SetLabels(sets map[uint64]store.LabelSet) (int, error)

	// Files an index run skipped, with reasons.
	Failures() ([]store.Failure, error)
	PutFailures(reasons map[string]string) error
	ClearFailures(paths []string) error

	// Dedup decisions (decisions.go), kept by content hash: AddDecision
	// returns a new id, never one given before; Decisions lists them in id
	// order, a damaged one being an error (never skipped: it may say
	// "keep"); DeleteDecision reports whether id was there.
	AddDecision(d store.Decision) (uint64, error)
	Decisions() ([]store.Decision, error)
	DeleteDecision(id uint64) (bool, error)

	// The index snapshot, tagged with the items version it covers.
	LoadIndex(read func(io.Reader) error) (version uint64, current bool, err error)
	SaveIndex(version uint64, write func(io.Writer) error) error

	// Check lists what is damaged or disagrees (opts says what our
	// records must satisfy); RepairInPlace drops those records with their
	// items; SalvageInPlace copies every sound item into a new database
	// that replaces a damaged one.
	Check(opts *store.CheckOptions) ([]store.Problem, error)
	RepairInPlace(opts *store.CheckOptions) (store.RepairReport, error)
	SalvageInPlace(opts *store.CheckOptions) (store.SalvageReport, error)

	// Release lets other processes in until the next call; Close ends.
	Release() error
	Close() error
}

var (
	_ storage = (*store.DB)(nil)
	_ storage = (*pgstore.DB)(nil)
)

// storageOptions are what every backend is opened with.
type storageOptions struct {
	LockTimeout time.Duration
	ReadOnly    bool
	Fingerprint string // the model's; "" accepts the stored one
	ModelName   string
	Dims        int
}

// openStore opens the database path names: a PostgreSQL URL
// (postgres://USER@HOST:PORT/DATABASE) opens its simsearch tables,
// anything else is a bbolt database file. On PostgreSQL the lock timeout
// has no use: several processes read and write at once.
func openStore(path string, o storageOptions) (storage, error) {
	if IsServerDatabase(path) {
		db, err := pgstore.Open(path, &pgstore.Options{
			ReadOnly: o.ReadOnly, Fingerprint: o.Fingerprint, ModelName: o.ModelName, Dims: o.Dims,
		})
		if err != nil {
			return nil, err // not a nil *pgstore.DB in a non-nil storage
		}
		return db, nil
	}
	return store.Open(path, &store.Options{
		Timeout: o.LockTimeout, ReadOnly: o.ReadOnly,
		Fingerprint: o.Fingerprint, ModelName: o.ModelName, Dims: o.Dims,
	})
}

// openRead opens readDB, a read replica of db, for a read-only engine,
// and db itself when there is no replica or it cannot be opened (the
// replica down, or behind a migration): log says which and why, once.
func openRead(open func(string, storageOptions) (storage, error), db, readDB string, o storageOptions, log io.Writer) (storage, error) {
	if readDB == "" || !o.ReadOnly {
		return open(db, o)
	}
	s, err := open(readDB, o)
	if err == nil {
		return s, nil
	}
	name := readDB
	if IsServerDatabase(readDB) {
		name = pgstore.Redact(readDB)
	}
	fmt.Fprintf(log, "read replica %s not used (%v); reading the primary\n", name, err)
	return open(db, o)
}

// Compact rewrites the database file at path without the space of deleted
// items and returns its size before and after. It takes the writer's lock,
// waiting up to lockTimeout (0 means 2 s) for another process.
// On PostgreSQL the server reclaims space itself (autovacuum); Compact
// says so and does nothing.
func Compact(path string, lockTimeout time.Duration) (before, after int64, err error) {
	if IsServerDatabase(path) {
		return 0, 0, fmt.Errorf("compact %s: %w", pgstore.Redact(path), errServerCompact)
	}
	return store.CompactInPlace(path, lockTimeout)
}

var errServerCompact = errors.New("a PostgreSQL database is not compacted by simsearch; the server's autovacuum reclaims space (VACUUM FULL simsearch.items does it at once)")

// IsServerDatabase reports whether db names a PostgreSQL database (a
// postgres:// or postgresql:// URL, which Open accepts wherever it takes a
// database file) rather than a database file.
func IsServerDatabase(db string) bool { return pgstore.IsDSN(db) }

// DisplayDatabase is how a message names db: a database file as given, a
// server database's URL without its password.
func DisplayDatabase(db string) string {
	if IsServerDatabase(db) {
		return pgstore.Redact(db)
	}
	return db
}

// statDatabase is os.Stat's error for a database file, nil for a server
// database (opening it says whether it is there).
func statDatabase(db string) error {
	if IsServerDatabase(db) {
		return nil
	}
	_, err := os.Stat(db)
	return err
}

// databaseName is how plans and reports name the database: a file's
// absolute path, a server database's URL without its password.
func databaseName(db string) (string, error) {
	if IsServerDatabase(db) {
		return pgstore.Redact(db), nil
	}
	return filepath.Abs(db)
}

// journalDir is where dedup runs on db are journalled: beside a database
// file; for a server database on this machine (whose files the runs
// move), see pgstore.JournalDir.
func journalDir(db string) string {
	if IsServerDatabase(db) {
		return pgstore.JournalDir(db)
	}
	return db + ".journal"
}

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the database this package writes. Open
// refuses a database with a higher version (ErrSchemaTooNew) so an older
// binary never misreads a newer layout. Adding a bucket that older
// versions may ignore (the dedup journal, say) does not need a new version;
// changing how an existing bucket is encoded does. Version 2: item records
// may be of codec 2 (with the capture time). Version 3: codec 3 (with the
// label sets). Version 4: codec 4 (with the capture time as written and
// the camera).
const SchemaVersion = 4

// pageSize is the bbolt page size of a new database. A 512-d vector is
// exactly 2,048 bytes and a leaf element adds a 16-byte header and the
// 8-byte key, so two never fit one 4 KiB page: at 4 KiB each vector takes
// a page of its own, half of it empty. Measured with
// BenchmarkBytesPerItem (10,000 items of 512 dims with their item records
// and path index, batches of 1,000; pages in use, which is also what the
// sparse file occupies on disk; bbolt grows the file's length ahead of
// use):
//
//	page size   bytes per item
//	 4 KiB      4,352
//	 8 KiB      3,010
//	16 KiB      2,620
//	32 KiB      2,490
//
// 16 KiB is 40% smaller than 4 KiB and within 5% of 32 KiB, whose pages
// would double what every small write transaction rewrites.
const pageSize = 16 << 10

// defaultTimeout is how long Open waits for another process's lock.
const defaultTimeout = 2 * time.Second

// Errors that callers tell apart with errors.Is.
var (
	// ErrLocked means another process holds the database open for writing
	// (or, for a writer, open at all) and did not let go within
	// Options.Timeout.
	ErrLocked = errors.New("database is in use by another simsearch process")
	// ErrModelMismatch means the database holds vectors of another model
	// (fingerprint or dimensions differ) than the one it was opened with.
	ErrModelMismatch = errors.New("database was built with another model")
	// ErrSchemaTooNew means the database was written by a newer simsearch
	// with a layout this one cannot read.
	ErrSchemaTooNew = errors.New("database was written by a newer simsearch")
	// ErrCorrupt means the file is not a readable simsearch database: not a
	// bbolt file, truncated, or with damaged pages or records. The cause is
	// wrapped with it.
	ErrCorrupt = errors.New("database is corrupt")
	// ErrReadOnly means a write was attempted on a database opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("database is open read-only")
	// ErrDims means a vector's length differs from the database's
	// dimensions.
	ErrDims = errors.New("vector has the wrong number of dimensions")
	// ErrNotFound means the requested record does not exist.
	ErrNotFound = errors.New("not found")
)

// Options configure Open. A nil *Options means the zero value: wait 2 s for
// the lock, read-write, no model check.
type Options struct {
	// Timeout is how long to wait for another process to release the
	// database. Zero means 2 s; a negative value means do not wait.
	Timeout time.Duration
	// ReadOnly opens with a shared lock, so several readers (queries) may
	// run at once while no writer can; writes return ErrReadOnly.
	ReadOnly bool
	// Fingerprint identifies the model and pooling that made the vectors.
	// The first read-write Open with a fingerprint on an empty database
	// records it; any later Open with a different one fails with
	// ErrModelMismatch. Empty means do not check (inspection, compaction).
	Fingerprint string
	// ModelName is recorded with the fingerprint, for people.
	ModelName string
	// Dims is the vector length. Zero means take it from the database, or
	// from the first Put.
	Dims int

	pageSize   int  // tests only: the page size of a new file
	noFreelist bool // Salvage: do not read the free list (read-only only)
}

// DB is an open simsearch database. Its methods are safe for concurrent
// use by several goroutines. Nothing it returns points into the database
// file: every byte read is copied out before its transaction ends.
type DB struct {
	path     string
	readOnly bool
	snapMu   sync.Mutex // one SaveIndex at a time: it spans transactions

	// writer is the lock file a read-write DB holds from Open to Close;
	// nil for a read-only one.
	writer *os.File

	// The bbolt handle, which Release closes between uses so that readers
	// in other processes can open the file while a long run holds the
	// writer lock. hmu guards the fields below.
	hmu       sync.Mutex
	bolt      *bolt.DB // nil while released
	boltOpts  bolt.Options
	users     int  // calls using bolt now
	releasing bool // close bolt when users drops to 0
	kept      bool // KeepOpen holds one use until a writer comes
	closed    bool

	// snapshotTxBytes bounds one write transaction of SaveIndex; a field
	// so tests can cross it without writing 64 MiB.
	snapshotTxBytes int
}

// Open opens (creating it and its parent directories if needed) the
// database at path. It fails with ErrLocked when another process holds
// it, ErrModelMismatch when it was built with another model, ErrSchemaTooNew
// when a newer simsearch wrote it and ErrCorrupt when it cannot be read.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Dims < 0 {
		return nil, fmt.Errorf("open %s: negative dimensions %d", path, o.Dims)
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = defaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt tries once, then gives up
	}
	if o.pageSize == 0 {
		o.pageSize = pageSize
	}
	var writer *os.File
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		w, err := lockWriter(path, timeout)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		writer = w
	}
	bo := bolt.Options{
		Timeout:  timeout,
		ReadOnly: o.ReadOnly,
		PageSize: o.pageSize,
		// The hashmap free list finds runs of free pages (a snapshot chunk
		// spans 64) by size, where the array one scans the whole list; the
		// file format is the same either way.
		FreelistType: bolt.FreelistMapType,
		// Read the free list now, under guard, and not first in the
		// goroutine that tx.Check starts (see Check).
		PreLoadFreelist: !(o.ReadOnly && o.noFreelist),
	}
	bdb, err := openBolt(path, &bo)
	if err != nil {
		unlockWriter(writer)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Opening again after Release waits longer: the writer already owns
	// the database, and a query that holds it shared lasts a second or two.
	bo.Timeout = max(timeout, reopenTimeout)
	db := &DB{bolt: bdb, boltOpts: bo, writer: writer, path: path, readOnly: o.ReadOnly, snapshotTxBytes: snapshotTxBytes}
	if err := db.checkSize(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.setUp(&o); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// reopenTimeout bounds how long a released DB waits to open its file again.
const reopenTimeout = 30 * time.Second

// errClosed is returned by calls on a closed DB.
var errClosed = errors.New("database is closed")

// acquire returns the bbolt handle, opening the file again if Release
// closed it; every successful call must be paired with done.
func (db *DB) acquire() (*bolt.DB, error) {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed {
		return nil, errClosed
	}
	if db.bolt == nil {
		opts := db.boltOpts
		b, err := openBolt(db.path, &opts)
		if err != nil {
			return nil, fmt.Errorf("open %s again: %w", db.path, err)
		}
		db.bolt = b
	}
	db.users++
	return db.bolt, nil
}

// done ends a use begun by acquire, closing the file if Release asked to.
func (db *DB) done() {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	db.users--
	if db.users == 0 && db.releasing {
		db.releasing = false
		if err := db.bolt.Close(); err == nil {
			db.bolt = nil
		}
	}
}

// Release closes the database file and drops its bbolt lock until the next
// call needs it, which opens it again (waiting up to 30 s for readers in
// other processes to let go). A read-write DB keeps its writer lock, so no
// other writer gets in meanwhile, while readers (queries) in other
// processes can open the database and see everything committed so far.
// A long indexing run calls it after each commit. Calls in progress finish
// first: the file is closed when the last of them ends.
func (db *DB) Release() error {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed || db.bolt == nil || !db.canRelease() {
		return nil
	}
	if db.users > 0 {
		db.releasing = true
		return nil
	}
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("release %s: %w", db.path, err)
	}
	db.bolt = nil
	return nil
}

// with runs fn with the bbolt handle.
func (db *DB) with(fn func(*bolt.DB) error) error {
	b, err := db.acquire()
	if err != nil {
		return err
	}
	defer db.done()
	return fn(b)
}

// openBolt opens the bbolt file, turning a lock timeout into ErrLocked and
// an unreadable file (or a panic while reading it) into ErrCorrupt.
func openBolt(path string, bo *bolt.Options) (bdb *bolt.DB, err error) {
	// bbolt keeps the file open, mapped and locked if it panics half way;
	// keep hold of it so a corrupt file does not stay locked for the
	// process's life. (The map itself leaks: bbolt does not say where it is.)
	var file *os.File
	bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				unlock(file)
				_ = file.Close()
			}
			bdb, err = nil, corruptPanic(r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	bdb, err = bolt.Open(path, 0o600, bo)
	if err == nil {
		return bdb, nil
	}
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, ErrLocked
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
}

// checkSize refuses a file shorter than its own high-water mark: pages
// past the end of a truncated file would fault when read through the mmap.
func (db *DB) checkSize() error {
	fi, err := os.Stat(db.path)
	if err != nil {
		return err
	}
	return db.view(func(tx *bolt.Tx) error {
		if need := tx.Size(); fi.Size() < need {
			return fmt.Errorf("%w: file is truncated: %d bytes, its pages need %d", ErrCorrupt, fi.Size(), need)
		}
		return nil
	})
}

// Close releases the database and its locks. Calls still in progress on
// other goroutines must have ended.
func (db *DB) Close() error {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	var err error
	if db.bolt != nil {
		if cerr := db.bolt.Close(); cerr != nil {
			err = fmt.Errorf("close %s: %w", db.path, cerr)
		}
		db.bolt = nil
	}
	unlockWriter(db.writer)
	db.writer = nil
	return err
}

// Path returns the database file's path as given to Open.
func (db *DB) Path() string { return db.path }

// Size returns the database file's size in bytes.
func (db *DB) Size() (int64, error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	return fi.Size(), nil
}

// view runs fn in a read transaction, turning a panic or memory fault
// while reading damaged pages into ErrCorrupt.
func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.with(func(b *bolt.DB) error {
		return guard(func() error { return b.View(fn) })
	})
}

// update runs fn in a write transaction, as view does for reads.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	if db.readOnly {
		return ErrReadOnly
	}
	return db.with(func(b *bolt.DB) error {
		return guard(func() error { return b.Update(fn) })
	})
}

// guard runs fn, which reads pages through the mmap, turning a panic (bbolt
// panics on damaged pages instead of returning an error) or a memory fault
// into ErrCorrupt. Code of the caller's must not run inside it, or its
// panics would be taken for damage.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corruptPanic(r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return fn()
}

func corruptPanic(r any) error {
	if e, ok := r.(error); ok {
		return fmt.Errorf("%w: %w", ErrCorrupt, e)
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, r)
}

package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/model"
)

// Options configure Open. DB is required; everything else has a default.
type Options struct {
	DB string // database file
	// Model embeds new photos and queries. Nil means LoadModel with
	// ModelOptions, where no Name means the database's own model (for a
	// new database NewDatabaseModel's, see ChooseModel); the engine then
	// owns it and closes it. Open never builds, downloads or writes a
	// model: when the model is not installed, an existing database still
	// opens (stats, rm, check, queries by indexed photos) and whatever
	// must embed returns ErrModelNotInstalled.
	Model        *Model
	ModelOptions *ModelOptions // how to load the model when Model is nil
	LockTimeout  time.Duration // wait for another process's lock; 0 means 2 s, 10 s when ReadOnly
	ReadOnly     bool          // open for queries only (shared lock)
	Log          io.Writer     // notices (random weights, index rebuilt); nil discards
	// ReadDB is a read replica of DB (a PostgreSQL standby's URL) that a
	// ReadOnly engine reads instead, falling back to DB, with a notice in
	// Log, when the replica cannot be opened.
	ReadDB string
	// Roots name folders of this machine, so that the photos under them
	// are stored by the name and their path inside it (see Root): other
	// machines that mount the same share elsewhere, or this one after
	// the library moved, name the same root and agree on its items.
	Roots []Root
	// Warm starts ONNX Runtime and the model's session while the index
	// loads, for a caller about to embed (a query by an image file): a
	// cold start then costs the longer of the two, not both (on 100k
	// items each is a few hundred milliseconds). Open returns with the
	// session ready; when it cannot be made, the first embedding says
	// why. Without an installed model it does nothing.
	Warm bool

	// openStorage opens the database; nil means the bbolt store. Tests
	// put the engine on other implementations of the interface.
	openStorage func(path string, o storageOptions) (storage, error)
}

// Engine wires a model, the database and the index. Its methods are safe
// for concurrent use, but one Index run at a time.
type Engine struct {
	opts      Options
	model     *Model // nil when modelErr says why
	modelErr  error
	ownModel  bool
	label     string // model/pooling the database was built with
	built     string // the engine and precision it was built with, for people
	threshold float32
	dims      int // vector length
	db        storage
	// idx is the index, nil until loaded. A database that finds dedup's
	// candidates itself (dedup.Neighbourer: PostgreSQL) has it loaded by
	// the first call that needs it (needIndex, under idxMu), so that a
	// dedup there never reads the snapshot or the vectors; any other at
	// Open.
	idx   *index.HNSW
	idxMu sync.Mutex
	// idxVersion is the items version idx holds all of, for a database
	// that tells what changed since (versioned).
	idxVersion atomic.Uint64
}

// Open opens (or creates) the database and loads its index. Opening a
// database built with another model fails with ErrModelMismatch; ONNX
// Runtime is loaded only when an image has to be embedded.
func Open(ctx context.Context, opts *Options) (*Engine, error) {
	if opts == nil || opts.DB == "" {
		return nil, errors.New("open engine: no database path")
	}
	e := &Engine{opts: *opts}
	if e.opts.Log == nil {
		e.opts.Log = io.Discard
	}
	if e.opts.ReadOnly {
		// Say first that there is nothing to read, before any model work.
		if err := statDatabase(e.opts.DB); err != nil {
			return nil, fmt.Errorf("open %s: %w", e.opts.DB, err)
		}
	}
	so := storageOptions{LockTimeout: e.opts.LockTimeout, ReadOnly: e.opts.ReadOnly}
	if so.LockTimeout == 0 && e.opts.ReadOnly {
		// A query may arrive while an index run writes its index snapshot,
		// which takes seconds for a large collection.
		so.LockTimeout = 10 * time.Second
	}
	roots, err := newRootMap(e.opts.Roots)
	if err != nil {
		return nil, err
	}
	e.model = e.opts.Model
	if e.model == nil {
		mo, err := withModel(&e.opts)
		if err != nil {
			return nil, err
		}
		m, err := LoadModel(ctx, mo)
		switch {
		case errors.Is(err, ErrModelNotInstalled) && dbExists(e.opts.DB):
			// The database says which model it holds; what needs no
			// embedding still works.
			e.modelErr = err
		case err != nil:
			return nil, err
		default:
			e.model, e.ownModel = m, true
		}
	}
	if e.model != nil {
		spec := e.model.Spec()
		so.Fingerprint, so.ModelName, so.Dims = e.model.Fingerprint(), e.model.Label(), spec.Channels
		if !e.opts.ReadOnly && !dbExists(e.opts.DB) {
			// A new database records the engine that will build it.
			so.ModelName = e.model.dbLabel()
		}
		e.threshold = float32(spec.Threshold)
		if spec.Random {
			fmt.Fprintf(e.opts.Log, "model %s: %s\n", spec.Name, model.RandomDescription)
		}
	}
	open := e.opts.openStorage
	if open == nil {
		open = openStore
	}
	db, err := openRead(open, e.opts.DB, e.opts.ReadDB, so, e.opts.Log)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.db = withRoots(db, roots, e.opts.Log)
	m, err := db.Meta()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.label, e.dims = m.ModelName, m.Dims
	e.label, _ = splitLabel(e.label)
	e.built = builtWith(m.ModelName)
	if e.model != nil {
		e.label, e.dims = e.model.Label(), e.model.Spec().Channels
	} else if en, ok := model.Lookup(e.ModelName()); ok {
		e.threshold = float32(en.Spec.Threshold)
	}
	var warmed chan struct{}
	if e.opts.Warm && e.model != nil {
		warmed = make(chan struct{})
		go func() {
			defer close(warmed)
			_, _ = e.model.extractor() // on error the first embedding tries again and says why
		}()
	}
	if _, lazy := db.(dedup.Neighbourer); !lazy {
		err = e.loadIndex()
	}
	if warmed != nil {
		<-warmed
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	e.release()
	return e, nil
}

func dbExists(path string) bool {
	if IsServerDatabase(path) {
		return true // opening it tells
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// release lets other processes open the database until the next call
// needs it (see storage.Release): a query can run while an index run is
// between commits, and an index run can commit while a query embeds its
// image. A failure to close a file whose transactions are all committed or
// read-only loses nothing, so it is not reported.
func (e *Engine) release() { _ = e.db.Release() }

// Model is the model the engine embeds with, or nil with the reason when
// it is not installed (see Options.Model).
func (e *Engine) Model() (*Model, error) { return e.model, e.modelErr }

// ModelName is the name of the model the database was built with.
func (e *Engine) ModelName() string {
	name, _, _ := strings.Cut(e.label, "/")
	return name
}

// Threshold is the near-duplicate cosine Duplicates uses by default: the
// model's calibrated value.
func (e *Engine) Threshold() float32 { return e.threshold }

// embedder returns the model, or why there is none.
func (e *Engine) embedder() (*Model, error) {
	if e.model == nil {
		return nil, e.modelErr
	}
	return e.model, nil
}

// Path is the database file.
func (e *Engine) Path() string { return e.db.Path() }

// Close saves nothing more and releases the database, and the model when
// Open loaded it.
func (e *Engine) Close() error {
	var errs []error
	if e.model != nil && e.ownModel {
		errs = append(errs, e.model.Close())
		e.model = nil
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
		e.db = nil
	}
	return errors.Join(errs...)
}

// needIndex loads the index if it is not yet (see Engine.idx). Every
// method that uses e.idx calls it first.
func (e *Engine) needIndex() error {
	e.idxMu.Lock()
	defer e.idxMu.Unlock()
	if e.idx != nil {
		return nil
	}
	defer e.release()
	return e.loadIndex()
}

// indexLoaded reports whether the index is in memory.
func (e *Engine) indexLoaded() bool {
	e.idxMu.Lock()
	defer e.idxMu.Unlock()
	return e.idx != nil
}

// loadIndex reads the snapshot and brings it up to date with the stored
// items: a snapshot taken before the last commits (an index run that was
// killed, or one still running in another process) only needs the
// difference, not a rebuild. An unreadable snapshot is rebuilt from the
// stored vectors.
func (e *Engine) loadIndex() error {
	idx := index.NewHNSW(e.dims, nil)
	// The index file is bbolt's alone, and holds ids, not paths: the
	// backend behind the named roots answers.
	mapped, ok := e.backend().(indexFiler)
	if ok {
		used, err := mapped.LoadIndexFile(func(f *os.File, off int64) error { return idx.LoadFile(f, off) })
		if err != nil {
			fmt.Fprintf(e.opts.Log, "%v; reading the index snapshot in the database\n", err)
		}
		if used {
			e.idx = idx
			return nil
		}
	}
	version, current, err := e.db.LoadIndex(func(r io.Reader) error { return idx.Load(r) })
	if err != nil {
		fmt.Fprintf(e.opts.Log, "index snapshot unusable (%v); rebuilding from stored vectors\n", err)
		return e.rebuildIndex()
	}
	e.idx = idx
	e.idxVersion.Store(version)
	if current {
		if ok && !e.opts.ReadOnly {
			e.writeIndexFile(mapped, version)
		}
		return nil
	}
	changed, err := e.catchUpSince()
	if err != nil {
		return err
	}
	if changed && !e.opts.ReadOnly {
		return e.writeIndex()
	}
	return nil
}

// catchUp brings the index in line with the stored vectors: it adds those
// it lacks, replaces those that changed (a file embedded again keeps its
// id) and deletes what is no longer stored; it reports whether anything
// changed. Reading every vector costs about as much as loading the
// snapshot, far less than a rebuild.
func (e *Engine) catchUp() (bool, error) {
	stored := map[uint64]bool{}
	var ids []uint64
	var vecs [][]float32
	err := e.db.ForEachVector(func(id uint64, v []float32) error {
		stored[id] = true
		if old, ok := e.idx.Vector(id); !ok || !slices.Equal(old, v) {
			ids = append(ids, id)
			vecs = append(vecs, v)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	return e.applyCatchUp(stored, ids, vecs)
}

// applyCatchUp deletes from the index what is no longer stored and adds
// (or replaces: AddBatch replaces the vector of an id the index holds)
// the changed vectors; it reports whether anything changed.
func (e *Engine) applyCatchUp(stored map[uint64]bool, ids []uint64, vecs [][]float32) (bool, error) {
	var gone int
	for _, id := range e.idx.IDs() {
		if !stored[id] {
			e.idx.Delete(id)
			gone++
		}
	}
	if err := e.idx.AddBatch(ids, vecs); err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	return len(ids) > 0 || gone > 0, nil
}

// versioned is a database that tells which vectors changed since an
// items version (*pgstore.DB, whose items record the version that wrote
// them): an index catches up on those and on the ids no longer stored,
// not on every vector.
type versioned interface {
	VectorsSince(since uint64, fn func(id uint64, v []float32) error) error
	ForEachID(fn func(id uint64) error) error
}

// catchUpSince is catchUp reading only what changed since idxVersion
// where the database can tell (versioned), and records the version the
// index then holds. On 100,000 items of which a few hundred changed, it
// reads a few hundred vectors and the ids instead of 200 MB.
func (e *Engine) catchUpSince() (bool, error) {
	vd, ok := e.backend().(versioned) // ids and vectors: no paths to convert
	if !ok {
		return e.catchUp()
	}
	m, err := e.db.Meta() // what the rows read below hold at least
	if err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	var ids []uint64
	var vecs [][]float32
	err = vd.VectorsSince(e.idxVersion.Load(), func(id uint64, v []float32) error {
		if old, ok := e.idx.Vector(id); !ok || !slices.Equal(old, v) {
			ids = append(ids, id)
			vecs = append(vecs, v)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	stored := map[uint64]bool{}
	if err := vd.ForEachID(func(id uint64) error { stored[id] = true; return nil }); err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	changed, err := e.applyCatchUp(stored, ids, vecs)
	if err != nil {
		return false, err
	}
	e.idxVersion.Store(m.ItemsVersion)
	return changed, nil
}

func (e *Engine) rebuildIndex() error {
	m, err := e.db.Meta() // what the vectors read below hold at least
	if err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	idx := index.NewHNSW(e.dims, nil)
	var ids []uint64
	var vecs [][]float32
	err = e.db.ForEachVector(func(id uint64, v []float32) error {
		ids = append(ids, id)
		vecs = append(vecs, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	if err := idx.AddBatch(ids, vecs); err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	e.idx = idx
	e.idxVersion.Store(m.ItemsVersion)
	if !e.opts.ReadOnly && len(ids) > 0 {
		return e.writeIndex()
	}
	return nil
}

// saveIndex stores the index snapshot unless the stored one is current
// or the index was never loaded (nothing in it changed).
func (e *Engine) saveIndex() error {
	if !e.indexLoaded() {
		return nil
	}
	m, err := e.db.Meta()
	if err != nil {
		return err
	}
	if m.HasIndex && m.IndexVersion == m.ItemsVersion {
		return nil
	}
	return e.writeIndex()
}

// tuneSeed seeds the index's tuning sample, so the same collection gets
// the same search breadth.
const tuneSeed = 1

// writeIndex stores the index snapshot unconditionally. First, when the
// index was never tuned (a new one, a rebuilt one, one from a snapshot
// older than tunings) or has doubled since, it chooses its search breadth
// for the target recall at its current size (index.HNSW.Tune): at 100k
// vectors 6.0 s against an 89 s build, both on 2 cores shared with other
// work (bench/results/2026-12-01-vm-index-autoef.md).
func (e *Engine) writeIndex() error {
	m, err := e.db.Meta()
	if err != nil {
		return err
	}
	if _, shared := e.db.(claimer); shared {
		// Other machines store items too: the snapshot holds at least
		// what version m.ItemsVersion holds (claims.go).
		if _, err := e.catchUpSince(); err != nil {
			return err
		}
	}
	if e.idx.NeedsTuning() {
		e.idx.Tune(tuneSeed)
	}
	if err := e.db.SaveIndex(m.ItemsVersion, func(w io.Writer) error { return e.idx.Save(w) }); err != nil {
		return err
	}
	if mapped, ok := e.backend().(indexFiler); ok {
		e.writeIndexFile(mapped, m.ItemsVersion)
	}
	return nil
}

// indexFiler is a storage that also keeps the index snapshot in a file of
// its own that the index maps instead of reading (internal/store's index
// file beside the database): a cold query then loads a 100k-photo index
// in tens of milliseconds instead of a couple of hundred.
type indexFiler interface {
	LoadIndexFile(load func(f *os.File, off int64) error) (bool, error)
	SaveIndexFile(version uint64, write func(io.Writer) error) error
}

// writeIndexFile stores the index in the index file, recorded at items
// version, which must be the one its snapshot in the database was saved
// at. The file only speeds up loading, so a failure is said and otherwise
// ignored.
func (e *Engine) writeIndexFile(f indexFiler, version uint64) {
	if err := f.SaveIndexFile(version, e.idx.SaveAligned); err != nil {
		fmt.Fprintf(e.opts.Log, "%v; queries read the index snapshot in the database instead\n", err)
	}
}

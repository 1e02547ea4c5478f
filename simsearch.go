package simsearch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// Options configure Open. DB is required; everything else has a default.
type Options struct {
	DB          string        // database file
	ModelsDir   string        // model cache; "" means model.DefaultDir
	Model       string        // model name; "" means DefaultModel(ModelsDir)
	Pooling     model.Pooling // "" means the model's default
	Threads     int           // ONNX Runtime threads; 0 means all cores
	Batch       int           // images per network run; 0 means 8
	LockTimeout time.Duration // wait for another process's lock; 0 means 2 s, 10 s when ReadOnly
	ReadOnly    bool          // open for queries only (shared lock)
	Log         io.Writer     // notices (model built, random weights); nil discards
	Runtime     *extractor.RuntimeOptions
}

// Engine wires a model, its extractor, the database and the index. Its
// methods are safe for concurrent use, but one Index run at a time.
type Engine struct {
	opts    Options
	spec    model.Spec
	pooling model.Pooling
	db      *store.DB
	idx     *index.HNSW

	mu sync.Mutex // guards rt and ex, created on first extraction
	rt *extractor.Runtime
	ex *extractor.Extractor
}

// Open opens (or creates) the database for the chosen model and loads its
// index. Opening a database built with another model fails with
// store.ErrModelMismatch; ONNX Runtime is loaded only when an image has to
// be embedded.
func Open(ctx context.Context, opts *Options) (*Engine, error) {
	if opts == nil || opts.DB == "" {
		return nil, errors.New("open engine: no database path")
	}
	e := &Engine{opts: *opts}
	if e.opts.Log == nil {
		e.opts.Log = io.Discard
	}
	if e.opts.ModelsDir == "" {
		d, err := model.DefaultDir(os.Getenv)
		if err != nil {
			return nil, err
		}
		e.opts.ModelsDir = d
	}
	if e.opts.Model == "" {
		e.opts.Model = DefaultModel(e.opts.ModelsDir)
	}
	if e.opts.ReadOnly {
		// Say first that there is nothing to read, before any model work.
		if _, err := os.Stat(e.opts.DB); err != nil {
			return nil, fmt.Errorf("open %s: %w", e.opts.DB, err)
		}
	}
	spec, err := model.Load(e.opts.ModelsDir, e.opts.Model)
	if err != nil || len(spec.Center) == 0 {
		// Build or finish the model; this needs the runtime.
		rt, rerr := e.runtime()
		if rerr != nil {
			if en, ok := model.Lookup(e.opts.Model); err != nil && (!ok || en.URL != "") {
				return nil, err // a model to pull: say that, not that the runtime is missing
			}
			return nil, fmt.Errorf("prepare model %s: %w", e.opts.Model, rerr)
		}
		spec, err = PrepareModel(ctx, rt, e.opts.ModelsDir, e.opts.Model, e.opts.Threads, e.opts.Log)
		if err != nil {
			e.Close()
			return nil, err
		}
	}
	e.spec = spec
	e.pooling = e.opts.Pooling
	if e.pooling == "" {
		e.pooling = spec.Pooling
	}
	if spec.Random {
		fmt.Fprintf(e.opts.Log, "model %s: %s\n", spec.Name, model.RandomDescription)
	}
	lockTimeout := e.opts.LockTimeout
	if lockTimeout == 0 && e.opts.ReadOnly {
		// A query may arrive while an index run writes its index snapshot,
		// which takes seconds for a large collection.
		lockTimeout = 10 * time.Second
	}
	db, err := store.Open(e.opts.DB, &store.Options{
		Timeout:     lockTimeout,
		ReadOnly:    e.opts.ReadOnly,
		Fingerprint: spec.Fingerprint(e.pooling),
		ModelName:   modelLabel(spec.Name, e.pooling),
		Dims:        spec.Channels,
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	e.db = db
	if err := e.loadIndex(); err != nil {
		e.Close()
		return nil, err
	}
	e.release()
	return e, nil
}

// release lets other processes open the database until the next call
// needs it (store.DB.Release): a query can run while an index run is
// between commits, and an index run can commit while a query embeds its
// image. A failure to close a file whose transactions are all committed or
// read-only loses nothing, so it is not reported.
func (e *Engine) release() { _ = e.db.Release() }

func modelLabel(name string, p model.Pooling) string { return name + "/" + string(p) }

// Spec is the model in use.
func (e *Engine) Spec() model.Spec { return e.spec }

// Pooling is the pooling method in use.
func (e *Engine) Pooling() model.Pooling { return e.pooling }

// DB is the underlying store, for tools that inspect it.
func (e *Engine) DB() *store.DB { return e.db }

// Close saves nothing more and releases the session, runtime and database.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if e.ex != nil {
		errs = append(errs, e.ex.Close())
		e.ex = nil
	}
	if e.rt != nil {
		errs = append(errs, e.rt.Close())
		e.rt = nil
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
		e.db = nil
	}
	return errors.Join(errs...)
}

func (e *Engine) runtime() (*extractor.Runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt == nil {
		rt, err := extractor.OpenRuntime(e.opts.Runtime)
		if err != nil {
			return nil, err
		}
		e.rt = rt
	}
	return e.rt, nil
}

func (e *Engine) extractor() (*extractor.Extractor, error) {
	rt, err := e.runtime()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ex == nil {
		ex, err := extractor.New(rt, e.spec, &extractor.Options{Pooling: e.pooling, Threads: e.opts.Threads, Batch: e.opts.Batch})
		if err != nil {
			return nil, err
		}
		e.ex = ex
	}
	return e.ex, nil
}

// indexParams are the HNSW parameters; they are recorded with snapshots.
func indexOptions() *index.HNSWOptions { return nil }

// loadIndex reads the snapshot and brings it up to date with the stored
// items: a snapshot taken before the last commits (an index run that was
// killed, or one still running in another process) only needs the
// difference, not a rebuild. An unreadable snapshot is rebuilt from the
// stored vectors.
func (e *Engine) loadIndex() error {
	idx := index.NewHNSW(e.spec.Channels, indexOptions())
	_, current, err := e.db.LoadIndex(func(r io.Reader) error { return idx.Load(r) })
	if err != nil {
		fmt.Fprintf(e.opts.Log, "index snapshot unusable (%v); rebuilding from stored vectors\n", err)
		return e.rebuildIndex()
	}
	e.idx = idx
	if current {
		return nil
	}
	changed, err := e.catchUp()
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
	var gone int
	for _, id := range e.idx.IDs() {
		if !stored[id] {
			e.idx.Delete(id)
			gone++
		}
	}
	// AddBatch replaces the vector of an id the index already holds.
	if err := e.idx.AddBatch(ids, vecs); err != nil {
		return false, fmt.Errorf("update index: %w", err)
	}
	return len(ids) > 0 || gone > 0, nil
}

func (e *Engine) rebuildIndex() error {
	idx := index.NewHNSW(e.spec.Channels, indexOptions())
	var ids []uint64
	var vecs [][]float32
	err := e.db.ForEachVector(func(id uint64, v []float32) error {
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
	if !e.opts.ReadOnly && len(ids) > 0 {
		return e.writeIndex()
	}
	return nil
}

// saveIndex stores the index snapshot unless the stored one is current.
func (e *Engine) saveIndex() error {
	m, err := e.db.Meta()
	if err != nil {
		return err
	}
	if m.HasIndex && m.IndexVersion == m.ItemsVersion {
		return nil
	}
	return e.writeIndex()
}

// writeIndex stores the index snapshot unconditionally.
func (e *Engine) writeIndex() error {
	m, err := e.db.Meta()
	if err != nil {
		return err
	}
	return e.db.SaveIndex(m.ItemsVersion, func(w io.Writer) error { return e.idx.Save(w) })
}

// hashBytes returns the SHA-256 of b.
func hashBytes(b []byte) [32]byte { return sha256.Sum256(b) }

// absPaths absolutises paths and sorts them.
func absPaths(paths []string) ([]string, error) {
	out, err := orderedAbs(paths)
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

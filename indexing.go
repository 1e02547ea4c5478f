package simsearch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
)

// IndexOptions configure Engine.Index.
type IndexOptions struct {
	NoPrune  bool  // keep items whose files vanished under the roots
	Hidden   bool  // include dot-files and dot-directories
	MaxBytes int64 // skip files larger than this; 0 means 1 GiB
	// Exclude skips files and folders matching these globs: one without
	// a slash matches a name at any depth, one with a slash the path
	// relative to its root (** for any number of folders).
	Exclude []string
	// NoDefaultExcludes walks into the DefaultExcludes folders too.
	NoDefaultExcludes bool
	MinSize           int64 // skip files smaller than this many bytes
	OneFileSystem     bool  // do not cross mount points below a root
	// MaxPixels refuses images declaring more pixels; 0 means the
	// extractor's default (100 megapixels).
	MaxPixels int64
	// List says the roots are a list of files (index -): a listed file
	// that does not exist is pruned, and nothing that is not listed is.
	List bool
	// Progress is called after each file is handled, from one goroutine.
	Progress func(p IndexProgress)
	// BatchSize is how many records go into one database transaction;
	// 0 means 256.
	BatchSize int
	// Lease is how long a claim on a shared (PostgreSQL) database holds
	// without being renewed: how soon other runs take over the files of
	// one that died. 0 means 30 s; see claims.go.
	Lease time.Duration
	// Head, when set, stores its LabelTop classes for each item embedded
	// in this run as the label set HeadSource, next to the model's own
	// classifier's set (its Spec.Labels) when the model has one.
	Head *classify.Head

	classifiers []*Classifier // from Model and Head, set by Index
	// batch marks a watch batch (with List): the items of its paths are
	// looked up one by one rather than all read, and the index snapshot
	// is left for Watch to save, so that a batch costs what it holds,
	// not what the database does.
	batch bool
}

// IndexProgress reports how far an Index run is.
type IndexProgress struct {
	Done, Total int // files to extract: handled so far, in all
	Path        string
}

// IndexSummary is what an Index run did.
type IndexSummary struct {
	Added, Updated, Removed, Unchanged int
	// Relabelled counts the unchanged items that IndexOptions.Head gave
	// new labels from their stored vectors.
	Relabelled int
	// Refilled counts the unchanged items stored before their capture
	// metadata was (Item.CaptureUnread) whose files were read for it:
	// EXIF capture time and camera, stored with their vectors as they
	// were, without embedding them again.
	Refilled    int
	Skipped     []store.Failure // this run's problem files, with reasons
	Interrupted bool
	Elapsed     time.Duration
}

// commitEvery is the longest time extracted vectors wait for a commit.
const commitEvery = 2 * time.Second

// Index brings the database up to date with the files under roots: new
// files are embedded, changed ones (size or modification time) embedded
// again, unchanged ones skipped without being read, and items whose files
// vanished from under the roots removed. Every committed batch survives an
// interruption; when ctx is cancelled the summary says so and the error is
// ctx's.
func (e *Engine) Index(ctx context.Context, roots []string, opts *IndexOptions) (IndexSummary, error) {
	start := time.Now()
	if err := e.needIndex(); err != nil {
		return IndexSummary{}, err
	}
	var o IndexOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	var sum IndexSummary
	roots, err := absPaths(roots)
	if err != nil {
		return sum, err
	}
	m, err := e.embedder()
	if err != nil {
		return sum, err
	}
	if o.classifiers, err = indexClassifiers(m, o.Head); err != nil {
		return sum, err
	}
	skip := map[string]bool{}
	for _, p := range []string{e.db.Path(), m.Dir()} {
		if a, err := filepath.Abs(p); err == nil {
			skip[a] = true
		}
	}
	wo, err := o.walkOptions(skip)
	if err != nil {
		return sum, err
	}
	files, walkFailed, err := walk(ctx, roots, wo)
	if err != nil {
		return sum, err
	}

	if !o.batch {
		if _, err := e.reroot(o.BatchSize); err != nil {
			return sum, err
		}
	}
	known, err := e.knownItems(roots, files, o.batch)
	if err != nil {
		return sum, err
	}
	var todo []walkFile
	present := make(map[string]bool, len(files))
	unchanged := map[uint64]store.Item{}
	for _, f := range files {
		present[f.Path] = true
		if it, ok := known[f.Path]; ok && it.Size == f.Size && it.ModTime == f.ModTime {
			sum.Unchanged++
			unchanged[it.ID] = it
			continue
		}
		todo = append(todo, f)
	}
	if sum.Refilled, err = e.refillCapture(ctx, unchanged, &o); err != nil {
		return sum, err
	}
	if o.Head != nil {
		// The head is the last classifier; photos indexed before it get
		// its classes from their stored vectors, without a network run.
		if sum.Relabelled, err = e.relabel(o.classifiers[len(o.classifiers)-1], unchanged, o.batch); err != nil {
			return sum, err
		}
	}

	if !o.NoPrune {
		var gone []uint64
		for p, it := range known {
			if !present[p] && underAny(p, roots) {
				gone = append(gone, it.ID)
			}
		}
		if err := e.remove(gone); err != nil {
			return sum, err
		}
		sum.Removed = len(gone)
	}
	e.release() // readers may come in while the first batch is extracted

	failures := walkFailed
	runErr := e.extractShared(ctx, m, roots, wo, todo, &o, known, &sum, failures)
	if len(failures) > 0 {
		if err := e.db.PutFailures(failures); err != nil && runErr == nil {
			runErr = err
		}
	}
	now := time.Now()
	for p, reason := range failures {
		sum.Skipped = append(sum.Skipped, store.Failure{Path: p, Reason: reason, Time: now})
	}
	if !o.batch {
		if err := e.saveIndex(); err != nil && runErr == nil {
			runErr = err
		}
		if err := e.tuneServer(ctx); err != nil && runErr == nil {
			runErr = err
		}
	}
	sum.Elapsed = time.Since(start)
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		sum.Interrupted = true
	}
	return sum, runErr
}

// knownItems returns the stored items, by path, that an index run
// compares its files with: every item, or with lookup (a watch batch,
// whose roots are files, some of them gone) only those of the files
// found and of the roots, each looked up by its path.
func (e *Engine) knownItems(roots []string, files []walkFile, lookup bool) (map[string]store.Item, error) {
	known := map[string]store.Item{}
	if !lookup {
		err := e.db.ForEachItem(func(it store.Item) error {
			known[it.Path] = it
			return nil
		})
		return known, err
	}
	paths := slices.Clone(roots)
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	for _, p := range paths {
		if _, done := known[p]; done {
			continue
		}
		it, ok, err := e.db.ItemByPath(p)
		if err != nil {
			return nil, err
		}
		if ok {
			known[p] = it
		}
	}
	return known, nil
}

// walkOptions are the walk that o asks for.
func (o *IndexOptions) walkOptions(skip map[string]bool) (walkOptions, error) {
	if o.MinSize < 0 {
		return walkOptions{}, fmt.Errorf("minimum size %d: must not be negative", o.MinSize)
	}
	if o.MaxPixels < 0 {
		return walkOptions{}, fmt.Errorf("pixel limit %d: must not be negative", o.MaxPixels)
	}
	globs := o.Exclude
	if !o.NoDefaultExcludes {
		globs = append(DefaultExcludes(), globs...)
	}
	x, err := newExcluder(globs)
	if err != nil {
		return walkOptions{}, err
	}
	return walkOptions{Hidden: o.Hidden, Skip: skip, Exclude: x, MinSize: o.MinSize, OneFileSystem: o.OneFileSystem, Missing: o.List}, nil
}

// refillCapture reads the capture metadata (Item.CaptureUnread) of the
// unchanged items stored before it was from their files, and stores it
// with their vectors as they are: no decoding, no network run. An item
// whose file changed or went since the walk is left for the next run. It
// returns how many items it stored.
func (e *Engine) refillCapture(ctx context.Context, items map[uint64]store.Item, o *IndexOptions) (int, error) {
	var ids []uint64
	for id, it := range items {
		if it.CaptureUnread() {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	slices.Sort(ids)
	n := 0
	var batch []store.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := e.db.Put(batch); err != nil {
			return fmt.Errorf("store capture metadata: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		e.release()
		return nil
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(err, flush())
		}
		it := items[id]
		b, st, err := extractor.ReadImage(it.Path, o.MaxBytes)
		if err != nil || st.Size() != it.Size || st.ModTime().UnixNano() != it.ModTime {
			continue
		}
		v, err := e.db.Vector(id)
		if err != nil {
			return n, errors.Join(fmt.Errorf("store capture metadata: %w", err), flush())
		}
		c := extractor.ReadCapture(b, it.Path)
		it.Taken, it.TakenAt, it.Make, it.Model = c.Taken, c.TakenAt, c.Make, c.Model
		batch = append(batch, store.Record{Item: it, Vector: v})
		if len(batch) >= o.BatchSize {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// relabel gives the items their labels from c on their stored vectors,
// writing only those whose labels from c change. With lookup (a watch
// batch, a few items) each vector is read by its id, else all are read
// in one pass.
func (e *Engine) relabel(c *Classifier, items map[uint64]store.Item, lookup bool) (int, error) {
	sets := map[uint64]store.LabelSet{}
	forEach := e.db.ForEachVector
	if lookup {
		forEach = func(fn func(id uint64, v []float32) error) error {
			for id := range items {
				v, err := e.db.Vector(id)
				if err != nil {
					return err
				}
				if err := fn(id, v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	err := forEach(func(id uint64, v []float32) error {
		it, ok := items[id]
		if !ok {
			return nil
		}
		s, err := c.labels(Embedding{Path: it.Path, Vector: v})
		if err != nil {
			return err
		}
		if old, had := it.Set(s.Source); !had || !slices.Equal(old.Top, s.Top) {
			sets[id] = s
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("label stored photos: %w", err)
	}
	n, err := e.db.SetLabels(sets)
	e.release()
	return n, err
}

// indexClassifiers are what labels an index run stores: the model's own
// classifier when its classes have names, and head.
func indexClassifiers(m *Model, head *classify.Head) ([]*Classifier, error) {
	var cls []*Classifier
	if s := m.Spec(); s.Logits != "" && s.Labels != "" {
		c, err := m.Classifier(nil)
		if err != nil {
			return nil, err
		}
		cls = append(cls, c)
	}
	if head != nil {
		c, err := m.Classifier(head)
		if err != nil {
			return nil, err
		}
		cls = append(cls, c)
	}
	return cls, nil
}

// extractInto embeds files and commits them in batches.
func (e *Engine) extractInto(ctx context.Context, m *Model, files []walkFile, o *IndexOptions, known map[string]store.Item, sum *IndexSummary, failures map[string]string) error {
	if len(files) == 0 {
		return nil
	}
	type meta struct {
		f    walkFile
		hash [32]byte
	}
	metas := make([]meta, len(files))
	src := make([]extractor.Source, len(files))
	for i, f := range files {
		i, f := i, f
		// Read, not Decode: the extractor then decodes within its
		// memory budget.
		src[i] = extractor.Source{Path: f.Path, Read: func(*extractor.DecodeOptions) ([]byte, error) {
			b, st, err := extractor.ReadImage(f.Path, o.MaxBytes)
			if err != nil {
				return nil, err
			}
			// Record what was actually read, not what the walk saw: a
			// file rewritten in between is then caught by the next run.
			metas[i] = meta{f: walkFile{Path: f.Path, Size: st.Size(), ModTime: st.ModTime().UnixNano()}, hash: sha256.Sum256(b)}
			return b, nil
		}, MaxPixels: o.MaxPixels}
	}
	var batch []store.Record
	var ok []string
	var added, updated int // in batch, counted in sum once committed
	commit := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids, err := e.db.Put(batch)
		if err != nil {
			return err
		}
		sum.Added += added
		sum.Updated += updated
		added, updated = 0, 0
		for i, r := range batch {
			if err := e.idx.Add(ids[i], r.Vector); err != nil {
				return err
			}
		}
		if err := e.db.ClearFailures(ok); err != nil {
			return err
		}
		batch, ok = batch[:0], ok[:0]
		e.release()
		return nil
	}
	done := 0
	lastCommit := time.Now()
	err := m.sources(ctx, src, func(r Embedding) error {
		done++
		if o.Progress != nil {
			o.Progress(IndexProgress{Done: done, Total: len(files), Path: r.Path})
		}
		m := metas[r.Seq]
		if r.Err != nil {
			if !looksLikeImageName(r.Path) && errors.Is(r.Err, extractor.ErrNotImage) {
				return nil // not a photo and not named like one: ignore quietly
			}
			failures[r.Path] = Reason(r.Err)
			return nil
		}
		var labels []store.LabelSet
		for _, c := range o.classifiers {
			l, err := c.labels(r)
			if err != nil {
				return err
			}
			labels = append(labels, l)
		}
		if _, had := known[r.Path]; had {
			updated++
		} else {
			added++
		}
		batch = append(batch, store.Record{
			Item: store.Item{
				Path: r.Path, Size: m.f.Size, ModTime: m.f.ModTime, Hash: m.hash,
				Width: r.Info.Width, Height: r.Info.Height, Format: r.Info.Format, Taken: r.Info.Taken, TakenAt: r.Info.TakenAt, Make: r.Info.Make, Model: r.Info.Model,
				Labels: labels,
			},
			Vector: r.Vector,
		})
		ok = append(ok, r.Path)
		// Commit by size or by time: a killed run loses at most the last
		// couple of seconds of work.
		if len(batch) >= o.BatchSize || time.Since(lastCommit) > commitEvery {
			lastCommit = time.Now()
			return commit()
		}
		return nil
	})
	if cerr := commit(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// remove deletes items from the database and the index.
func (e *Engine) remove(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := e.needIndex(); err != nil {
		return err
	}
	if err := e.db.Delete(ids); err != nil {
		return err
	}
	for _, id := range ids {
		e.idx.Delete(id)
	}
	return nil
}

// Remove deletes the given files (or everything under given directories)
// from the database and index; the files themselves are not touched. It
// returns how many items were removed.
func (e *Engine) Remove(paths []string) (int, error) {
	abs, err := absPaths(paths)
	if err != nil {
		return 0, err
	}
	var gone []uint64
	err = e.db.ForEachItem(func(it store.Item) error {
		if underAny(it.Path, abs) {
			gone = append(gone, it.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := e.remove(gone); err != nil {
		return 0, err
	}
	return len(gone), e.saveIndex()
}

// Reason is how a per-file problem is reported: err's message up to its
// first line break, as index records a skipped file's reason.
func Reason(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// serverTuner is a storage whose server searches its own index at a
// breadth it measures (pgstore.DB).
type serverTuner interface {
	NeedsTuning(ctx context.Context, target float64) (bool, error)
	Tune(ctx context.Context, target float64) (index.Tuning, error)
}

// tuneServer chooses a server database's search breadth for the
// default target recall when it was never chosen or the item count has
// changed by more than twice since (pgstore.DB.Tune: 200 scans of the
// table on the server). An interrupted run leaves it for the next.
func (e *Engine) tuneServer(ctx context.Context) error {
	t, ok := e.backend().(serverTuner)
	if !ok || ctx.Err() != nil {
		return nil
	}
	need, err := t.NeedsTuning(ctx, index.DefaultTargetRecall)
	if err != nil || !need {
		return err
	}
	_, err = t.Tune(ctx, index.DefaultTargetRecall)
	return err
}

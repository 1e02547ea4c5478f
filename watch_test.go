package simsearch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/store"
)

// watchRun is an Engine.Watch running in the background.
type watchRun struct {
	events chan WatchEvent
	done   chan error
	cancel context.CancelFunc
}

func startWatch(t *testing.T, e *Engine, roots []string, opts WatchOptions) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{events: make(chan WatchEvent, 64), done: make(chan error, 1), cancel: cancel}
	opts.Events = func(ev WatchEvent) { w.events <- ev }
	go func() { w.done <- e.Watch(ctx, roots, &opts) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// next is the next event with a summary (not a watcher error).
func (w *watchRun) next(t *testing.T) WatchEvent {
	t.Helper()
	for {
		select {
		case ev := <-w.events:
			if ev.Err != nil {
				t.Logf("watcher: %v", ev.Err)
				continue
			}
			return ev
		case err := <-w.done:
			t.Fatalf("watch ended: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("no pass within 60 s")
		}
	}
}

// queryPaths opens the database read-only beside the watcher, as a query
// process would, and returns the paths query ranks for the photo at q.
func queryPaths(t *testing.T, db, q string) []string {
	t.Helper()
	r, err := Open(context.Background(), &Options{DB: db, ReadOnly: true, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, Log: io.Discard})
	if err != nil {
		t.Fatalf("open read-only beside the watcher: %v", err)
	}
	defer r.Close()
	m, err := r.Query(context.Background(), q, &QueryOptions{K: 50, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, x := range m {
		paths = append(paths, x.Path)
	}
	return paths
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEngine_Watch(t *testing.T) {
	sample := filepath.Join("testdata", "photos")
	dir := filepath.Join(t.TempDir(), "photos")
	copyFile(t, filepath.Join(sample, "cat.jpg"), filepath.Join(dir, "cat.jpg"))
	copyFile(t, filepath.Join(sample, "cat.jpg"), filepath.Join(dir, "@eaDir", "cat.jpg", "thumb.jpg"))
	db := filepath.Join(t.TempDir(), "db", "s.db")
	e := openTestEngine(t, db)
	w := startWatch(t, e, []string{dir}, WatchOptions{Settle: 300 * time.Millisecond, Rescan: -1})

	first := w.next(t)
	if first.Pass != WatchFirst || first.Summary.Added != 1 {
		t.Fatalf("first pass: %+v, want 1 added (the thumbnail folder skipped)", first)
	}

	// A photo written in two halves, with a pause shorter than the settle
	// time between them, is read once, whole.
	pagoda, err := os.ReadFile(filepath.Join(sample, "pagoda.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "new", "pagoda.jpg") // in a folder made after the first pass
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(pagoda[:len(pagoda)/2])
	time.Sleep(100 * time.Millisecond)
	f.Write(pagoda[len(pagoda)/2:])
	f.Close()
	copied := time.Now()
	ev := w.next(t)
	latency := time.Since(copied)
	if ev.Pass != WatchChanges || ev.Summary.Added != 1 || len(ev.Summary.Skipped) != 0 {
		t.Fatalf("after the copy: %+v, want one photo added and none skipped", ev)
	}
	got := queryPaths(t, db, filepath.Join(sample, "pagoda.jpg"))
	if len(got) == 0 || got[0] != dst {
		t.Fatalf("query by pagoda.jpg ranks %v, want %s first", got, dst)
	}
	t.Logf("watch latency, end of copy to committed: %s (settle 300ms)", latency.Round(time.Millisecond))

	// A deleted photo is pruned.
	if err := os.Remove(filepath.Join(dir, "cat.jpg")); err != nil {
		t.Fatal(err)
	}
	ev = w.next(t)
	if ev.Summary.Removed != 1 {
		t.Fatalf("after the delete: %+v, want one removed", ev)
	}
	got = queryPaths(t, db, filepath.Join(sample, "cat.jpg"))
	if slices.Contains(got, filepath.Join(dir, "cat.jpg")) || !slices.Contains(got, dst) {
		t.Fatalf("after the delete the query ranks %v", got)
	}

	// A removed folder takes its photos with it.
	if err := os.RemoveAll(filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	for removed := 0; removed < 1; {
		removed += w.next(t).Summary.Removed
	}

	w.cancel()
	if err := <-w.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v, want context.Canceled", err)
	}
	w.done <- nil // for the cleanup
	if n := len(queryPaths(t, db, filepath.Join(sample, "cat.jpg"))); n != 0 {
		t.Errorf("%d items left, want none", n)
	}
}

func TestEngine_WatchRescanFindsMissedFiles(t *testing.T) {
	// The item of a photo is removed from the database behind the
	// watcher's back, with no file system event: only the periodic full
	// pass can bring it back, the backstop for events a watcher loses.
	sample := filepath.Join("testdata", "photos")
	dir := t.TempDir()
	photo := filepath.Join(dir, "cat.jpg")
	copyFile(t, filepath.Join(sample, "cat.jpg"), photo)
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	w := startWatch(t, e, []string{dir}, WatchOptions{Settle: 100 * time.Millisecond, Rescan: 2 * time.Second})
	if ev := w.next(t); ev.Pass != WatchFirst || ev.Summary.Added != 1 {
		t.Fatalf("first pass: %+v, want 1 added", ev)
	}
	if n, err := e.Remove([]string{photo}); err != nil || n != 1 {
		t.Fatalf("Remove = %d, %v", n, err)
	}
	ev := w.next(t)
	if ev.Pass != WatchRescan || ev.Summary.Added != 1 {
		t.Fatalf("next pass: %+v, want a rescan adding the photo back", ev)
	}
	if got := queryPaths(t, db, filepath.Join(sample, "cat.jpg")); !slices.Equal(got, []string{photo}) {
		t.Errorf("after the rescan the query ranks %v, want only %s", got, photo)
	}
}

func TestEngine_WatchNeedsFolders(t *testing.T) {
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	f := filepath.Join(t.TempDir(), "a.jpg")
	copyFile(t, filepath.Join("testdata", "photos", "cat.jpg"), f)
	if err := e.Watch(context.Background(), []string{f}, nil); err == nil {
		t.Error("Watch took a file as its root")
	}
}

// countingStorage counts the calls that read every item or vector, the
// lookups by path and the snapshot saves of the storage it wraps.
type countingStorage struct {
	storage
	mu                                       sync.Mutex
	forEachItem, forEachVector, byPath, save int
}

func (c *countingStorage) count(n *int) {
	c.mu.Lock()
	*n++
	c.mu.Unlock()
}

func (c *countingStorage) ForEachItem(fn func(store.Item) error) error {
	c.count(&c.forEachItem)
	return c.storage.ForEachItem(fn)
}

func (c *countingStorage) ForEachVector(fn func(uint64, []float32) error) error {
	c.count(&c.forEachVector)
	return c.storage.ForEachVector(fn)
}

func (c *countingStorage) ItemByPath(p string) (store.Item, bool, error) {
	c.count(&c.byPath)
	return c.storage.ItemByPath(p)
}

func (c *countingStorage) SaveIndex(version uint64, write func(io.Writer) error) error {
	c.count(&c.save)
	return c.storage.SaveIndex(version, write)
}

// counts returns the counts so far: every item, every vector, by path, saves.
func (c *countingStorage) counts() [4]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return [4]int{c.forEachItem, c.forEachVector, c.byPath, c.save}
}

// A batch of changes touches the items of its own paths only: no pass
// over every item or vector, no snapshot of the whole index per batch;
// a removed folder's batch reads all items to find what was below it;
// the snapshot is saved when Watch returns.
func TestEngine_WatchBatchTouchesOnlyItsPaths(t *testing.T) {
	sample := filepath.Join("testdata", "photos")
	dir := filepath.Join(t.TempDir(), "photos")
	for _, name := range []string{"cat.jpg", "fig.jpg", "jetty.jpg"} {
		copyFile(t, filepath.Join(sample, name), filepath.Join(dir, name))
	}
	copyFile(t, filepath.Join(sample, "dogs.jpg"), filepath.Join(dir, "old", "dogs.jpg"))
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	cs := &countingStorage{storage: e.db}
	e.db = cs
	w := startWatch(t, e, []string{dir}, WatchOptions{Settle: 100 * time.Millisecond, Rescan: -1})
	if ev := w.next(t); ev.Pass != WatchFirst || ev.Summary.Added != 4 {
		t.Fatalf("first pass: %+v, want 4 added", ev)
	}
	first := cs.counts()
	if first[0] == 0 || first[3] == 0 {
		t.Fatalf("the first pass read no items or saved no snapshot (%v): the counting is broken", first)
	}

	copyFile(t, filepath.Join(sample, "pagoda.jpg"), filepath.Join(dir, "pagoda.jpg"))
	if ev := w.next(t); ev.Summary.Added != 1 || ev.Summary.Removed != 0 {
		t.Fatalf("after a copy: %+v, want 1 added", ev)
	}
	if err := os.Remove(filepath.Join(dir, "cat.jpg")); err != nil {
		t.Fatal(err)
	}
	if ev := w.next(t); ev.Summary.Removed != 1 || ev.Summary.Added != 0 {
		t.Fatalf("after a delete: %+v, want 1 removed", ev)
	}
	batches := cs.counts()
	if batches[0] != first[0] || batches[1] != first[1] || batches[3] != first[3] {
		t.Errorf("two batches of one file each read every item %d times, every vector %d times and saved the snapshot %d times; want none",
			batches[0]-first[0], batches[1]-first[1], batches[3]-first[3])
	}
	if batches[2] == first[2] {
		t.Error("the batches looked up no item by its path")
	}
	if got := queryPaths(t, db, filepath.Join(sample, "pagoda.jpg")); len(got) == 0 || got[0] != filepath.Join(dir, "pagoda.jpg") {
		t.Fatalf("query beside the watcher ranks %v, want pagoda.jpg first", got)
	}
	if got := queryPaths(t, db, filepath.Join(sample, "cat.jpg")); slices.Contains(got, filepath.Join(dir, "cat.jpg")) {
		t.Fatalf("query by cat.jpg beside the watcher ranks %v, with the deleted copy", got)
	}

	if err := os.RemoveAll(filepath.Join(dir, "old")); err != nil {
		t.Fatal(err)
	}
	// The file's event and the folder's may come in one batch or two.
	removed := 0
	for folder := false; !folder; {
		ev := w.next(t)
		removed += ev.Summary.Removed
		folder = slices.Contains(ev.Paths, filepath.Join(dir, "old"))
	}
	if removed != 1 {
		t.Errorf("removing a folder with one photo removed %d items", removed)
	}
	if n := cs.counts()[0]; n == batches[0] {
		t.Error("a removed folder's batch did not read the items to find what was below it")
	}
	w.cancel()
	if err := <-w.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v, want context.Canceled", err)
	}
	w.done <- nil // for the cleanup
	m, err := e.db.Meta()
	if err != nil || !m.HasIndex || m.IndexVersion != m.ItemsVersion {
		t.Errorf("after Watch returned: meta %+v, %v; want a current index snapshot", m, err)
	}
}

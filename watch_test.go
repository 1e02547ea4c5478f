package simsearch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
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

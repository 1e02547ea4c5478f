package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// isOpen says whether db's bbolt file is open now.
func isOpen(db *DB) bool {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	return db.bolt != nil
}

// A kept-open reader survives Release until a writer comes, lets the
// writer in, closes between calls while it runs, and keeps the file open
// again once it has gone.
func TestKeepOpen_LetsAWriterIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	w, err := Open(path, &Options{Dims: 8})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, w, testRecords(0, 10, 8))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.KeepOpen() {
		t.Fatal("KeepOpen with no writer about: false")
	}
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	if !isOpen(r) {
		t.Fatal("the file closed on Release although kept open")
	}
	if n, err := r.Len(); err != nil || n != 10 {
		t.Fatalf("Len() = %d, %v; want 10", n, err)
	}
	_ = r.Release()

	// A writer's open (which waits 2 s for readers) gets in.
	start := time.Now()
	w, err = Open(path, &Options{Dims: 8})
	if err != nil {
		t.Fatalf("writer beside a kept-open reader: %v", err)
	}
	defer w.Close()
	if isOpen(r) {
		t.Error("the reader's file is still open after the writer got in")
	}
	if r.KeepOpen() {
		t.Error("KeepOpen while a writer holds the lock: true")
	}
	mustPut(t, w, testRecords(10, 5, 8))
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	// Between the writer's commits the reader sees them, and lets go.
	if n, err := r.Len(); err != nil || n != 15 {
		t.Errorf("reader after the writer's commit: Len() = %d, %v; want 15", n, err)
	}
	_ = r.Release()
	if isOpen(r) {
		t.Error("the reader's file stays open after Release while a writer runs")
	}
	mustPut(t, w, testRecords(15, 5, 8)) // would wait out its timeout on a reader that holds on
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("writer in after %v", time.Since(start))

	if !r.KeepOpen() {
		t.Error("KeepOpen after the writer closed: false")
	}
	_ = r.Release()
	if n, err := r.Len(); err != nil || n != 20 || !isOpen(r) {
		t.Errorf("kept-open reader after the writer: Len() = %d, %v, open %v; want 20, open", n, err, isOpen(r))
	}
}

// KeepOpen refuses a read-write DB, whose file Release must close, and
// does nothing after Close.
func TestKeepOpen_OnlyReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	w, err := Open(path, &Options{Dims: 8})
	if err != nil {
		t.Fatal(err)
	}
	if w.KeepOpen() {
		t.Error("KeepOpen on a read-write DB: true")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.KeepOpen() {
		t.Fatal("KeepOpen: false")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.KeepOpen() {
		t.Error("KeepOpen after Close: true")
	}
	if _, err := r.Len(); !errors.Is(err, errClosed) {
		t.Errorf("Len after Close: %v, want errClosed", err)
	}
	// The watcher of the closed DB must not stand in a writer's way.
	w, err = Open(path, &Options{Dims: 8, Timeout: -1})
	if err != nil {
		t.Fatalf("writer after the kept-open reader closed: %v", err)
	}
	w.Close()
}

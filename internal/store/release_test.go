package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// A writer that releases the file between commits lets readers in, keeps
// other writers out, and sees its next commit wait for the readers.
func TestRelease_ReadersBetweenCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	w, err := Open(path, &Options{Dims: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustPut(t, w, testRecords(0, 10, 8))

	// Before Release, a reader cannot open the file.
	if _, err := Open(path, &Options{ReadOnly: true, Timeout: -1}); !errors.Is(err, ErrLocked) {
		t.Fatalf("reader beside an unreleased writer: %v, want ErrLocked", err)
	}
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, &Options{ReadOnly: true, Timeout: -1})
	if err != nil {
		t.Fatalf("reader after Release: %v", err)
	}
	if n, err := r.Len(); err != nil || n != 10 {
		t.Errorf("reader sees Len() = %d, %v; want the 10 committed items", n, err)
	}
	// Another writer is still kept out, by the writer lock.
	if _, err := Open(path, &Options{Timeout: -1}); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer after Release: %v, want ErrLocked", err)
	}

	// The writer's next commit waits for the reader to go.
	committed := make(chan error, 1)
	go func() {
		_, err := w.Put(testRecords(10, 5, 8))
		committed <- err
	}()
	select {
	case err := <-committed:
		t.Fatalf("Put returned (%v) while a reader held the file", err)
	case <-time.After(200 * time.Millisecond):
	}
	if n, _ := r.Len(); n != 10 {
		t.Errorf("reader sees %d items while the writer waits, want 10", n)
	}
	r.Close()
	if err := <-committed; err != nil {
		t.Fatalf("Put after the reader left: %v", err)
	}
	if n, err := w.Len(); err != nil || n != 15 {
		t.Errorf("Len() = %d, %v; want 15", n, err)
	}
}

// Release while another goroutine is in a call closes the file only when
// that call ends, and calls after it open the file again.
func TestRelease_WaitsForCallsInProgress(t *testing.T) {
	db := openTest(t, &Options{Dims: 8})
	mustPut(t, db, testRecords(0, 3, 8))
	released := make(chan struct{})
	err := db.ForEachItem(func(Item) error {
		if err := db.Release(); err != nil {
			return err
		}
		select {
		case <-released:
		default:
			close(released)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachItem with a Release inside: %v", err)
	}
	for i := 0; i < 3; i++ {
		mustPut(t, db, testRecords(3+i, 1, 8))
		if err := db.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.Len(); err != nil || n != 6 {
		t.Errorf("Len() = %d, %v; want 6", n, err)
	}
	mustCheck(t, db)
}

func TestClose_Twice(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "simsearch.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.Len(); err == nil {
		t.Error("Len on a closed database succeeded")
	}
}

func TestCompactInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 64}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ids := mustPut(t, db, testRecords(0, 2000, 64))
	if err := db.Delete(ids[:1900]); err != nil {
		t.Fatal(err)
	}
	// Not while a writer holds the database, even a released one.
	if err := db.Release(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CompactInPlace(path, -1); !errors.Is(err, ErrLocked) {
		t.Errorf("CompactInPlace beside a writer: %v, want ErrLocked", err)
	}
	db.Close()

	before, after, err := CompactInPlace(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after*2 > before {
		t.Errorf("compacted %d → %d bytes, want under half", before, after)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCheck(t, db)
	if n, _ := db.Len(); n != 100 {
		t.Errorf("Len() = %d after compaction, want 100", n)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

// Salvage copies what is readable out of a file with damaged pages into a
// new database that passes Check, and never writes the damaged file.
func TestSalvageInPlace_DamagedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 512}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600; i += 100 {
		mustPut(t, db, testRecords(i, 100, 512))
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Damage two runs of pages well inside the file, past the meta pages.
	for _, off := range []int{len(b) / 3, 2 * len(b) / 3} {
		for i := off; i < off+20000; i++ {
			b[i] ^= 0xa5
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := SalvageInPlace(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvaged %d items, lost %d: %v", rep.Items, rep.Lost, rep.Problems)
	if rep.Items == 0 || rep.Items >= 600 {
		t.Errorf("salvaged %d of 600 items; want most but not all from a file damaged in two places", rep.Items)
	}
	kept, err := os.ReadFile(rep.Kept)
	if err != nil || !bytes.Equal(kept, b) {
		t.Errorf("damaged file not kept unchanged at %q: %v", rep.Kept, err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCheck(t, db)
	if n, _ := db.Len(); n != rep.Items {
		t.Errorf("Len() = %d, want the %d salvaged", n, rep.Items)
	}
	// What was salvaged is what was written. Vector bytes carry no
	// checksum (bbolt has none), so damage inside them is copied; the
	// engine's check finds such vectors by their length (they are unit).
	differ := 0
	err = db.ForEachItem(func(it Item) error {
		var i int
		if _, err := fmt.Sscanf(filepath.Base(it.Path), "IMG_%06d.jpg", &i); err != nil {
			return err
		}
		want := testItem(i)
		want.ID = it.ID
		if !reflect.DeepEqual(it, want) {
			t.Errorf("salvaged item %+v, want %+v", it, want)
		}
		v, err := db.Vector(it.ID)
		if err != nil {
			return err
		}
		if !slices.Equal(v, testVector(i, 512)) {
			differ++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if differ > rep.Items/20 {
		t.Errorf("%d of %d salvaged vectors differ from what was written", differ, rep.Items)
	}
}

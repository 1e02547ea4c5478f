package store

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// damagedBase builds a database with items, failures and a snapshot, and
// returns its bytes and page size.
func damagedBase(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.db")
	db, err := Open(path, &Options{Fingerprint: testFP, ModelName: "vgg16"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600; i += 200 {
		mustPut(t, db, testRecords(i, 200, 64))
	}
	if err := db.Delete([]uint64{5, 50, 500}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFailures(map[string]string{"/a": "truncated", "/b": "too large"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIndex(3, writeBytes(snapshotData(chunkSize+100))); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exercise does everything a reader or writer does with db, failing the
// test on any error that is not ErrCorrupt. A panic would end the test
// binary, which is what the callers guard against.
func exercise(t *testing.T, path string) (corrupt int) {
	t.Helper()
	note := func(what string, err error) {
		t.Helper()
		switch {
		case err == nil:
		case errors.Is(err, ErrCorrupt):
			corrupt++
		default:
			t.Errorf("%s: %v, want nil or ErrCorrupt", what, err)
		}
	}
	db, err := Open(path, nil)
	note("Open", err)
	if err != nil {
		return corrupt
	}
	defer db.Close()
	problems, err := db.Check(nil)
	note("Check", err)
	if len(problems) > 0 {
		corrupt++
	}
	_, err = db.Len()
	note("Len", err)
	_, err = db.Meta()
	note("Meta", err)
	note("ForEachItem", db.ForEachItem(func(Item) error { return nil }))
	note("ForEachVector", db.ForEachVector(func(uint64, []float32) error { return nil }))
	_, err = db.Failures()
	note("Failures", err)
	_, _, err = db.LoadIndex(func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
	note("LoadIndex", err)
	for _, id := range []uint64{1, 300, 599} {
		_, _, err = db.Item(id)
		note("Item", err)
	}
	_, _, err = db.ItemByPath(testItem(400).Path)
	note("ItemByPath", err)
	_, err = db.Put(testRecords(10_000, 50, 64))
	note("Put", err)
	note("Delete", db.Delete([]uint64{10, 20, 30}))
	return corrupt
}

func TestStore_FlippedBytesNeverPanic(t *testing.T) {
	base := damagedBase(t)
	trials := 300
	if testing.Short() {
		trials = 60
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	corrupt := 0
	for trial := range trials {
		b := append([]byte(nil), base...)
		switch trial % 3 {
		case 0: // a few flipped bits anywhere
			for range 8 {
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
			}
		case 1: // a page header hit: page ids, flags, counts, overflow
			pg := rng.IntN(len(b) / pageSize)
			for i := range 16 {
				b[pg*pageSize+i] ^= byte(rng.Uint32())
			}
		case 2: // a run of garbage inside a page: element headers and keys
			at := rng.IntN(len(b) - 256)
			for i := range 256 {
				b[at+i] = byte(rng.Uint32())
			}
		}
		path := filepath.Join(dir, "flipped.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if n := exercise(t, path); n > 0 {
			corrupt++
		}
		if t.Failed() {
			t.Fatalf("trial %d", trial)
		}
	}
	// Most damage lands in free space or vector floats that no check can
	// tell from data; enough of it must be caught for the test to mean
	// something.
	t.Logf("%d of %d damaged files reported corrupt", corrupt, trials)
	if corrupt < trials/10 {
		t.Errorf("only %d of %d damaged files were found corrupt", corrupt, trials)
	}
}

func TestOpen_TruncatedIsCorrupt(t *testing.T) {
	base := damagedBase(t)
	used := len(base)
	// Find the high-water mark: the file may be longer than its pages.
	func() {
		path := filepath.Join(t.TempDir(), "hwm.db")
		if err := os.WriteFile(path, base, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_ = db.view(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	}()
	tests := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"half a page", pageSize / 2},
		{"one page", pageSize},
		{"meta pages only", 2 * pageSize},
		{"half", used / 2},
		{"last page lost", used - pageSize},
		{"last byte lost", used - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "truncated.db")
			if err := os.WriteFile(path, base[:tt.size], 0o600); err != nil {
				t.Fatal(err)
			}
			// Read-only first: a failed Open must not leave the file locked
			// (bbolt's memory map would keep its flock alive).
			for _, ro := range []bool{true, false} {
				db, err := Open(path, &Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("Open(ReadOnly: %t) of a file cut to %d of %d bytes succeeded", ro, tt.size, used)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Open(ReadOnly: %t): %v, want ErrCorrupt", ro, err)
				}
			}
		})
	}
}

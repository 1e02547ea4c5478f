package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// readFile is a LoadIndexFile load function that reads the snapshot from
// off to the end into *dst.
func readFile(dst *[]byte) func(*os.File, int64) error {
	return func(f *os.File, off int64) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		*dst, err = io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
		return err
	}
}

// savedWithFile stores snap in the database and in the index file, at the
// current items version, as the engine does.
func savedWithFile(t *testing.T, db *DB, snap []byte) {
	t.Helper()
	m, err := db.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIndex(m.ItemsVersion, writeBytes(snap)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIndexFile(m.ItemsVersion, writeBytes(snap)); err != nil {
		t.Fatal(err)
	}
}

// The index file gives back what was saved, at a 64-byte offset; it is
// ignored (false, no error) when missing, stale, disowned by a new
// SaveIndex, or another database's; a wrong size is ErrCorrupt, and the
// load function's error comes back. The database keeps working
// throughout: its own snapshot still loads.
func TestStore_IndexFile(t *testing.T) {
	db := openTest(t, &Options{Fingerprint: testFP})
	mustPut(t, db, testRecords(0, 3, 4))
	snap := bytes.Repeat([]byte("index snapshot "), 5000)
	savedWithFile(t, db, snap)
	path := db.IndexFilePath()
	if path != db.Path()+".hnsw" {
		t.Fatalf("index file %s, want beside %s", path, db.Path())
	}

	var got []byte
	var offset int64
	ok, err := db.LoadIndexFile(func(f *os.File, off int64) error {
		offset = off
		return readFile(&got)(f, off)
	})
	if err != nil || !ok || !bytes.Equal(got, snap) {
		t.Fatalf("LoadIndexFile = %t, %v, %d bytes equal %t; want the snapshot", ok, err, len(got), bytes.Equal(got, snap))
	}
	if offset%64 != 0 {
		t.Errorf("snapshot at offset %d, want a multiple of 64", offset)
	}

	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other := openTest(t, &Options{Fingerprint: testFP})
	mustPut(t, other, testRecords(0, 3, 4))
	savedWithFile(t, other, snap)
	foreign, err := os.ReadFile(other.IndexFilePath())
	if err != nil {
		t.Fatal(err)
	}

	loadErr := errors.New("load refused")
	cases := []struct {
		name string
		file []byte // nil: no file
		load func(*os.File, int64) error
		ok   bool
		want error
	}{
		{"missing", nil, nil, false, nil},
		{"another database's", foreign, nil, false, nil},
		{"truncated", good[:len(good)-10], nil, false, ErrCorrupt},
		{"truncated in its header", good[:20], nil, false, nil},
		{"longer", append(bytes.Clone(good), 1), nil, false, ErrCorrupt},
		{"load fails", good, func(*os.File, int64) error { return loadErr }, false, loadErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(path)
			if c.file != nil {
				if err := os.WriteFile(path, c.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			load := c.load
			if load == nil {
				load = readFile(&got)
			}
			ok, err := db.LoadIndexFile(load)
			if ok != c.ok || !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("LoadIndexFile = %t, %v; want %t, %v", ok, err, c.ok, c.want)
			}
			var inDB []byte
			if _, current, err := db.LoadIndex(readAll(&inDB)); err != nil || !current || !bytes.Equal(inDB, snap) {
				t.Errorf("LoadIndex beside it = %t, %v", current, err)
			}
		})
	}

	// Stale: items changed since the file was written.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(10, 1, 4))
	if ok, err := db.LoadIndexFile(readFile(&got)); ok || err != nil {
		t.Errorf("stale file: LoadIndexFile = %t, %v; want it ignored", ok, err)
	}
	// Disowned: a new snapshot in the database drops the file's record,
	// even at the same items version.
	savedWithFile(t, db, snap)
	m, _ := db.Meta()
	if err := db.SaveIndex(m.ItemsVersion, writeBytes(snap)); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.LoadIndexFile(readFile(&got)); ok || err != nil {
		t.Errorf("file of a replaced snapshot: LoadIndexFile = %t, %v; want it ignored", ok, err)
	}
	mustCheck(t, db)
	if leftovers, _ := filepath.Glob(path + ".*"); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// A read-only database does not write the index file, and a failing
// write function leaves the old file and its record in place.
func TestStore_IndexFileWriteFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	db, err := Open(path, &Options{Fingerprint: testFP})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 2, 4))
	snap := []byte("a small snapshot")
	killed := db.IndexFilePath() + ".123.tmp" // what a killed run leaves
	if err := os.WriteFile(killed, []byte("half an index"), 0o600); err != nil {
		t.Fatal(err)
	}
	savedWithFile(t, db, snap)
	if _, err := os.Stat(killed); err == nil {
		t.Error("the temporary file of a killed run is still there after a save")
	}
	m, _ := db.Meta()
	boom := errors.New("boom")
	err = db.SaveIndexFile(m.ItemsVersion, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failed write: %v, want %v", err, boom)
	}
	var got []byte
	if ok, err := db.LoadIndexFile(readFile(&got)); !ok || err != nil || !bytes.Equal(got, snap) {
		t.Errorf("after a failed write: %t, %v, %q; want the old file", ok, err, got)
	}
	if leftovers, _ := filepath.Glob(db.IndexFilePath() + ".*"); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	db.Close()

	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.SaveIndexFile(m.ItemsVersion, writeBytes(snap)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only SaveIndexFile: %v, want ErrReadOnly", err)
	}
	if ok, err := ro.LoadIndexFile(readFile(&got)); !ok || err != nil || !bytes.Equal(got, snap) {
		t.Errorf("read-only LoadIndexFile: %t, %v", ok, err)
	}
}

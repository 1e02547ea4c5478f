package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCompact_ReclaimsSpace(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "sub", "dst.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 512}
	db, err := Open(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i := 0; i < 3000; i += 1000 {
		ids = append(ids, mustPut(t, db, testRecords(i, 1000, 512))...)
	}
	if err := db.Delete(ids[:2700]); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIndex(2, writeBytes([]byte("graph"))); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Size()
	db.Close()

	if err := Compact(src, dst); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	db, err = Open(dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	after, _ := db.Size()
	// 300 items of 2.6 KB are under 1 MB; the source holds pages for 3,000.
	if after*4 > before {
		t.Errorf("compacted file is %d bytes, source %d: want under a quarter", after, before)
	}
	t.Logf("compacted %d → %d bytes", before, after)
	mustCheck(t, db)
	if n, _ := db.Len(); n != 300 {
		t.Errorf("Len() = %d after compaction, want 300", n)
	}
	if m, _ := db.Meta(); m.ItemsVersion != 4 || !m.HasIndex || m.Fingerprint != testFP {
		t.Errorf("Meta() = %+v after compaction, want it kept", m)
	}
	if v, err := db.Vector(ids[2999]); err != nil || !slices.Equal(v, testVector(2999, 512)) {
		t.Errorf("last vector after compaction: %v", err)
	}
	// The ID sequence survives, so IDs are still never reused.
	if got := mustPut(t, db, testRecords(5000, 1, 512)); got[0] != 3001 {
		t.Errorf("first ID after compaction = %d, want 3001", got[0])
	}
}

func TestCompact_RefusesExistingDestination(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "dst.db")
	db, err := Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Compact(src, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Compact onto an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Errorf("Compact changed the existing destination to %q", b)
	}
}

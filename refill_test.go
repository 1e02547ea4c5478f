package simsearch

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
	"github.com/simsearch/simsearch/internal/store"
)

// asCodec3 rewrites every item record of the database at path as item
// codec 3 wrote it, before the capture text and camera: the record
// without its last three strings, whose values items gives by id.
func asCodec3(t *testing.T, path string, items map[uint64]store.Item) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("items"))
		old := map[string][]byte{}
		err := b.ForEach(func(k, v []byte) error {
			it, ok := items[binary.BigEndian.Uint64(k)]
			if !ok || v[0] != 4 {
				t.Fatalf("item record %x: codec %d, not one of the items written", k, v[0])
			}
			tail := 0
			for _, s := range []string{it.TakenAt, it.Make, it.Model} {
				tail += len(binary.AppendUvarint(nil, uint64(len(s)))) + len(s)
			}
			old[string(k)] = append([]byte{3}, v[1:len(v)-tail]...)
			return nil
		})
		if err != nil {
			return err
		}
		for k, v := range old {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A database whose items predate item codec 4 gains their capture time
// and camera on the next index run, read from the unchanged files: the
// vectors and ids stay as they were, nothing is embedded again, and the
// run after that reads nothing.
func TestEngine_IndexRefillsOldCaptureMetadata(t *testing.T) {
	dir := t.TempDir()
	cat, err := os.ReadFile(filepath.Join("testdata", "photos", "cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	block := imagetest.EXIFBlock(binary.BigEndian, 1, imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Offset: "+02:00", Make: "Canon", Model: "Canon EOS 5D"})
	withEXIF := filepath.Join(dir, "cat-2019.jpg")
	if err := os.WriteFile(withEXIF, imagetest.InsertAPP1(cat, block), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "fig.jpg")
	copyFile(t, filepath.Join("testdata", "photos", "fig.jpg"), plain)

	db := filepath.Join(t.TempDir(), "s.db")
	ctx := context.Background()
	e := openTestEngine(t, db)
	if sum, err := e.Index(ctx, []string{dir}, nil); err != nil || sum.Added != 2 || sum.Refilled != 0 {
		t.Fatalf("first index: %+v, %v; want 2 added, none refilled", sum, err)
	}
	items := map[uint64]store.Item{}
	vectors := map[uint64][]float32{}
	for _, p := range []string{withEXIF, plain} {
		it, ok, err := e.db.ItemByPath(p)
		if err != nil || !ok {
			t.Fatalf("item of %s: %t, %v", p, ok, err)
		}
		if it.CaptureUnread() {
			t.Fatalf("%s: a new item says its capture metadata was never read", p)
		}
		items[it.ID] = it
		if vectors[it.ID], err = e.db.Vector(it.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	asCodec3(t, db, items)

	e = openTestEngine(t, db)
	old, _, err := e.db.ItemByPath(withEXIF)
	if err != nil || !old.CaptureUnread() || old.TakenAt != "" || old.Make != "" {
		t.Fatalf("rewritten as codec 3: %+v, %v; want no camera and the old-codec mark", old, err)
	}
	sum, err := e.Index(ctx, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Refilled != 2 || sum.Unchanged != 2 || sum.Added+sum.Updated+sum.Removed != 0 {
		t.Fatalf("index of the old database: %+v; want both items refilled, unchanged, nothing embedded", sum)
	}
	for id, was := range items {
		it, ok, err := e.db.Item(id)
		if err != nil || !ok {
			t.Fatalf("item %d after the refill: %t, %v", id, ok, err)
		}
		if it.Path != was.Path || it.TakenAt != was.TakenAt || it.Taken != was.Taken || it.Make != was.Make || it.Model != was.Model || it.CaptureUnread() {
			t.Errorf("refilled %s:\n got %+v\nwant %+v", filepath.Base(was.Path), it, was)
		}
		v, err := e.db.Vector(id)
		if err != nil || !slices.Equal(v, vectors[id]) {
			t.Errorf("vector of %s changed by the refill (%v)", filepath.Base(was.Path), err)
		}
	}
	if got, _, _ := e.db.ItemByPath(withEXIF); got.TakenAt != "2019-05-02T10:11:12+02:00" || got.Model != "Canon EOS 5D" {
		t.Errorf("photo with EXIF after the refill: taken %q, camera %q", got.TakenAt, got.Model)
	}
	if sum, err := e.Index(ctx, []string{dir}, nil); err != nil || sum.Refilled != 0 || sum.Unchanged != 2 {
		t.Errorf("next index: %+v, %v; want nothing read again", sum, err)
	}
}

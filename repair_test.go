package simsearch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/internal/store"
)

// indexFour indexes four sample photos into a new database and returns
// its path and the photos' paths.
func indexFour(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	paths, _ := samplePhotos(t)
	var photos []string
	for _, p := range paths[:4] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		q := filepath.Join(dir, filepath.Base(p))
		os.WriteFile(q, b, 0o644)
		photos = append(photos, q)
	}
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	if _, err := e.Index(context.Background(), []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	e.Close()
	return db, photos
}

// editDB changes the database behind the engine's back, as a killed index
// run or another process would, leaving the index snapshot stale.
func editDB(t *testing.T, db string, fn func(*store.DB)) {
	t.Helper()
	s, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

func itemVector(t *testing.T, s *store.DB, path string) (store.Item, []float32) {
	t.Helper()
	it, ok, err := s.ItemByPath(path)
	if err != nil || !ok {
		t.Fatalf("%s not stored: %v", path, err)
	}
	v, err := s.Vector(it.ID)
	if err != nil {
		t.Fatal(err)
	}
	return it, v
}

// A stale snapshot is brought up to date on open: added, replaced (same
// id, new vector) and deleted items all show in the index.
func TestEngine_StaleSnapshotCatchesUp(t *testing.T) {
	db, photos := indexFour(t)
	var bVec []float32
	editDB(t, db, func(s *store.DB) {
		a, _ := itemVector(t, s, photos[0])
		_, bVec = itemVector(t, s, photos[1])
		c, _ := itemVector(t, s, photos[2])
		// photos[0] embedded again with photos[1]'s vector, photos[2]
		// gone, and a new item.
		a.Size++
		newItem := a
		newItem.Path += ".new.jpg"
		if _, err := s.Put([]store.Record{{Item: a, Vector: bVec}, {Item: newItem, Vector: bVec}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete([]uint64{c.ID}); err != nil {
			t.Fatal(err)
		}
	})
	e := openTestEngine(t, db)
	if rep, err := e.Check(false); err != nil || !rep.OK() {
		t.Fatalf("check after catching up: %v %v", rep.Problems, err)
	}
	hits, err := e.QueryVector(bVec, 0, &QueryOptions{K: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, h := range hits {
		if h.Score > 0.9999 {
			got[h.Path] = true
		}
	}
	for _, want := range []string{photos[0], photos[0] + ".new.jpg", photos[1]} {
		if !got[want] {
			t.Errorf("%s not found with score 1 for its new vector; hits %+v", want, hits)
		}
	}
}

// A vector damaged on disk (not of unit length) is found by check and
// removed by check --repair; the next index run embeds the photo again.
func TestEngine_CheckDropsDamagedVectors(t *testing.T) {
	db, photos := indexFour(t)
	editDB(t, db, func(s *store.DB) {
		a, v := itemVector(t, s, photos[0])
		for i := range v {
			v[i] *= 3
		}
		if _, err := s.Put([]store.Record{{Item: a, Vector: v}}); err != nil {
			t.Fatal(err)
		}
	})
	e := openTestEngine(t, db)
	rep, err := e.Check(false)
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Path != photos[0] || !strings.Contains(rep.Problems[0].Text, "is damaged: its length is") {
		t.Fatalf("check: %q, %v; want the damaged vector of %s", rep.Problems, err, photos[0])
	}
	if rep.OK() || len(rep.Repaired) > 0 {
		t.Errorf("check without repair: OK %t, repaired %q", rep.OK(), rep.Repaired)
	}
	if rep, err = e.Check(true); err != nil || !rep.OK() || rep.Dropped != 1 || rep.Kept != "" {
		t.Fatalf("repair: %+v, %v; want one item dropped in place", rep, err)
	}
	t.Logf("repair: %q", rep.Repaired)
	if rep, err = e.Check(false); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("check after repair: %q %v", rep.Problems, err)
	}
	sum, err := e.Index(context.Background(), []string{filepath.Dir(photos[0])}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != 1 || sum.Unchanged != 3 {
		t.Errorf("index after repair: %+v, want the removed photo added again", sum)
	}
}

// flipPathInItem changes byte at of the path of photo's item record in
// the file db, as damage on disk would, leaving the path index alone. The
// record is found by its start (codec byte, length, path); a page freed
// since may hold an old copy, which is changed too.
func flipPathInItem(t *testing.T, db, photo string, at int, to byte) string {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	rec := append([]byte{4, byte(len(photo))}, photo...) // item codec 4
	n := 0
	for i := bytes.Index(b, rec); i >= 0; i = bytes.Index(b, rec) {
		b[i+2+at] = to
		n++
	}
	if n == 0 {
		t.Fatalf("the record of %s is not in the file", photo)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return photo[:at] + string(to) + photo[at+1:]
}

// A path flipped in an item record, in a file bbolt finds sound, makes the
// item disagree with the path index both ways. check reports it, quoted;
// check --repair drops that item in place (no salvage), leaves a current
// index snapshot, and the next index run embeds the photo again: one
// item per photo, none under the damaged path.
func TestEngine_RepairDropsAFlippedPathInPlace(t *testing.T) {
	db, photos := indexFour(t)
	// A newline in the directory part: a path outside the indexed folder,
	// which the index run would never prune.
	bad := flipPathInItem(t, db, photos[1], 1, '\n')
	e := openTestEngine(t, db)
	rep, err := e.Check(false)
	if err != nil || rep.OK() || len(rep.Problems) != 2 {
		t.Fatalf("check: %q, %v; want the item and its path entry reported", rep.Problems, err)
	}
	for _, p := range rep.Problems {
		if strings.Contains(p.Text, "\n") {
			t.Errorf("problem %q holds a raw newline", p.Text)
		}
	}
	if !strings.Contains(rep.Problems[0].Text, `"/`) || rep.Problems[0].Path != bad {
		t.Errorf("problem %q (path %q) does not quote the damaged path %q", rep.Problems[0].Text, rep.Problems[0].Path, bad)
	}
	rep, err = e.Check(true)
	if err != nil || !rep.OK() || rep.Kept != "" || rep.Dropped != 1 {
		t.Fatalf("repair: %+v, %v; want one item dropped in place", rep, err)
	}
	t.Logf("repair: %q", rep.Repaired)
	if rep, err := e.Check(false); err != nil || !rep.OK() {
		t.Fatalf("check right after the repair: %q, %v", rep.Problems, err)
	}
	m, err := e.db.Meta()
	if err != nil || !m.HasIndex || m.IndexVersion != m.ItemsVersion {
		t.Errorf("index snapshot after the repair: %+v, %v; want one that is current", m, err)
	}
	if st, err := e.Stats(); err != nil || st.Items != 3 || st.IndexLen != 3 {
		t.Errorf("after the repair: %+v, %v; want 3 items, all in the index", st, err)
	}
	sum, err := e.Index(context.Background(), []string{filepath.Dir(photos[0])}, nil)
	if err != nil || sum.Added != 1 || sum.Unchanged != 3 || sum.Removed != 0 {
		t.Fatalf("index after the repair: %+v, %v; want the dropped photo added", sum, err)
	}
	var got []string
	if err := e.db.ForEachItem(func(it store.Item) error { got = append(got, it.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(photos))
	if !slices.Equal(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// pagesOfType returns the ids of the pages of the given bbolt type in the
// database file at path.
func pagesOfType(t *testing.T, path, typ string) (ids []int, pageSize int) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		for id := 0; ; {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == typ {
				ids = append(ids, id)
			}
			id += 1 + info.OverflowCount
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, bdb.Info().PageSize
}

// Repair salvages a database the engine cannot open at all (here its free
// list page is garbage, which Open reads first), and a check right after
// passes; a file whose meta pages are both destroyed cannot be salvaged
// and says so with ErrUnsalvageable, changing nothing.
func TestRepair_SalvagesWhatOpenCannotRead(t *testing.T) {
	db, photos := indexFour(t)
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	free, pageSize := pagesOfType(t, db, "freelist")
	if len(free) != 1 {
		t.Fatalf("free list pages %v, want one", free)
	}
	b := slices.Clone(good)
	for i := range pageSize {
		b[free[0]*pageSize+i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, Log: io.Discard}
	if _, err := Open(context.Background(), opts); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open of a file with a garbage free list: %v, want ErrCorrupt", err)
	}
	rep, err := Repair(context.Background(), opts)
	if err != nil || !rep.OK() || rep.Kept == "" {
		t.Fatalf("Repair: %+v, %v; want a salvage", rep, err)
	}
	t.Logf("repair: %q %q", rep.Problems, rep.Repaired)
	if kept, err := os.ReadFile(rep.Kept); err != nil || !bytes.Equal(kept, b) {
		t.Errorf("damaged file not kept unchanged at %s: %v", rep.Kept, err)
	}
	e := openTestEngine(t, db)
	if rep, err := e.Check(false); err != nil || !rep.OK() {
		t.Fatalf("check after Repair: %q, %v", rep.Problems, err)
	}
	if st, err := e.Stats(); err != nil || st.Items != len(photos) || st.IndexLen != len(photos) {
		t.Errorf("after Repair: %+v, %v; want all %d items (the free list holds none)", st, err, len(photos))
	}
	e.Close()

	b = slices.Clone(good)
	clear(b[:2*pageSize])
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Repair(context.Background(), opts); !errors.Is(err, ErrUnsalvageable) || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Repair without meta pages: %v, want ErrUnsalvageable", err)
	}
	if after, err := os.ReadFile(db); err != nil || !bytes.Equal(after, b) {
		t.Errorf("a failed salvage changed the file: %v", err)
	}
	if _, err := Repair(context.Background(), &Options{DB: filepath.Join(t.TempDir(), "none.db")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Repair of no database: %v, want ErrNotExist", err)
	}
}

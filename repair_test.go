package simsearch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if problems, err := e.Check(false); err != nil || len(problems) > 0 {
		t.Fatalf("check after catching up: %v %v", problems, err)
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
	problems, err := e.Check(false)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "1 stored vectors are damaged") || !strings.Contains(problems[0], photos[0]) {
		t.Fatalf("check: %q, %v; want the damaged vector of %s", problems, err, photos[0])
	}
	if problems, err = e.Check(true); err != nil {
		t.Fatal(err)
	}
	t.Logf("repair: %q", problems)
	if problems, err = e.Check(false); err != nil || len(problems) > 0 {
		t.Fatalf("check after repair: %q %v", problems, err)
	}
	sum, err := e.Index(context.Background(), []string{filepath.Dir(photos[0])}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != 1 || sum.Unchanged != 3 {
		t.Errorf("index after repair: %+v, want the removed photo added again", sum)
	}
}

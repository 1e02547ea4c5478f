package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch"
)

// thumbFiles are the thumbnail files in dir, by name, with their sizes.
func thumbFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = fi.Size()
	}
	return out
}

// getThumb fetches item id's thumbnail from the handler h.
func getThumb(t *testing.T, h *Handler, id uint64) []byte {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	f := &fixture{srv: srv}
	status, b, _ := f.do(t, "GET", fmt.Sprintf("/api/v1/items/%d/thumbnail", id), nil)
	if status != 200 || !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		t.Fatalf("thumbnail of item %d: %d %.100s", id, status, b)
	}
	return b
}

// A thumbnail outlives its server: the next handler on the database (a
// restart) serves it from the folder beside the database without the
// photo, and a photo changed and indexed again gets a new one.
func TestThumbnails_OnDisk(t *testing.T) {
	f := newFixture(t, nil)
	id := f.itemIDs(t)[f.cat]
	first := getThumb(t, f.h, id)
	dir := f.db + ".thumbs"
	files := thumbFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("thumbnail files %v, want one in %s", files, dir)
	}
	for name := range files {
		if !strings.HasPrefix(name, fmt.Sprint(id)+"-") {
			t.Errorf("thumbnail file %s is not named by item %d", name, id)
		}
	}

	// A restart: a new handler, with nothing in memory, and the photo
	// moved away, which only the disk cache can make up for.
	hidden := f.cat + ".away"
	if err := os.Rename(f.cat, hidden); err != nil {
		t.Fatal(err)
	}
	again, err := New(f.h.eng, &Options{MoveTo: f.moveTo})
	if err != nil {
		t.Fatal(err)
	}
	if b := getThumb(t, again, id); !bytes.Equal(b, first) {
		t.Error("the restarted server's thumbnail differs from the one written")
	}
	if n := again.decoded.Load(); n != 0 {
		t.Errorf("the restarted server decoded %d photos for a thumbnail on disk", n)
	}
	if err := os.Rename(hidden, f.cat); err != nil {
		t.Fatal(err)
	}

	// The photo changes (another picture under its name) and is indexed
	// again: its thumbnail is made afresh and the old file goes.
	copyFile(t, filepath.Join("..", "testdata", "photos", "dahlia.jpg"), f.cat, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC))
	w, err := simsearch.Open(context.Background(), &simsearch.Options{DB: f.db, Model: testModel(t), LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Index(context.Background(), []string{f.cat}, nil)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := f.itemIDs(t)[f.cat]; got != id {
		t.Fatalf("cat.jpg is item %d after indexing again, was %d", got, id)
	}
	fresh := getThumb(t, again, id)
	if bytes.Equal(fresh, first) || again.decoded.Load() != 1 {
		t.Errorf("after the photo changed: same thumbnail %v, %d decoded; want a new one, 1 decoded", bytes.Equal(fresh, first), again.decoded.Load())
	}
	after := thumbFiles(t, dir)
	if len(after) != 1 {
		t.Errorf("thumbnail files after the change: %v, want the new one only", after)
	}
	for name := range files {
		if _, ok := after[name]; ok {
			t.Errorf("the old thumbnail %s is still there", name)
		}
	}
}

// The files on disk stay within their budget, the oldest going first, and
// a restart counts what is there before adding to it.
func TestThumbnails_DiskBudget(t *testing.T) {
	f := newFixture(t, &Options{ThumbnailDisk: 1})
	ids := f.itemIDs(t)
	one := int64(len(getThumb(t, f.h, ids[f.cat])))
	if n, _ := f.h.disk.usage(); n != 0 {
		t.Errorf("a budget of 1 byte holds %d thumbnails", n)
	}
	// Room for about two and a half of them.
	budget := one * 5 / 2
	dir := t.TempDir()
	h, err := New(f.h.eng, &Options{MoveTo: f.moveTo, ThumbnailDir: dir, ThumbnailDisk: budget})
	if err != nil {
		t.Fatal(err)
	}
	var order []uint64
	var sum int64
	for _, name := range sampleNames {
		id := ids[filepath.Join(f.photos, name)]
		sum += int64(len(getThumb(t, h, id)))
		order = append(order, id)
	}
	if sum <= budget {
		t.Fatalf("the five thumbnails take %d bytes, within the budget of %d: nothing to evict", sum, budget)
	}
	check := func(h *Handler, when string) {
		t.Helper()
		var total int64
		files := thumbFiles(t, dir)
		for _, size := range files {
			total += size
		}
		n, used := h.disk.usage()
		if total > budget || used != total || n != len(files) || n < 1 {
			t.Errorf("%s: %d files of %d bytes (accounted %d, %d), budget %d", when, len(files), total, n, used, budget)
		}
		last := order[len(order)-1]
		if _, ok := files[thumbFile(simsearch.Item{ID: last, Hash: itemHash(t, h, last)})]; !ok {
			t.Errorf("%s: the newest thumbnail (item %d) is not kept: %v", when, last, files)
		}
	}
	check(h, "after five thumbnails")
	if _, ok := thumbFiles(t, dir)[thumbFile(simsearch.Item{ID: order[0], Hash: itemHash(t, h, order[0])})]; ok {
		t.Errorf("the oldest thumbnail (item %d) is kept past the budget", order[0])
	}
	// The restart orders the files by modification time: make it the
	// order they were written in, whatever the clock's resolution.
	base := time.Now().Add(-time.Hour)
	for i, id := range order {
		p := filepath.Join(dir, thumbFile(simsearch.Item{ID: id, Hash: itemHash(t, h, id)}))
		if err := os.Chtimes(p, base, base.Add(time.Duration(i)*time.Second)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	restarted, err := New(f.h.eng, &Options{MoveTo: f.moveTo, ThumbnailDir: dir, ThumbnailDisk: budget})
	if err != nil {
		t.Fatal(err)
	}
	getThumb(t, restarted, ids[f.catCopy])
	order = append(order, ids[f.catCopy])
	check(restarted, "after a restart and one more")
}

func itemHash(t *testing.T, h *Handler, id uint64) simsearch.Hash {
	t.Helper()
	it, ok, err := h.eng.Item(id)
	if err != nil || !ok {
		t.Fatalf("item %d: %v %v", id, ok, err)
	}
	return it.Hash
}

// A database file's thumbnails go beside it; a PostgreSQL database's under
// the user's cache folder, named by host, port and database, never by the
// password or options in its URL.
func TestThumbDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	for _, c := range []struct{ db, want string }{
		{"/photos/photos.db", "/photos/photos.db.thumbs"},
		{"rel/photos.db", "rel/photos.db.thumbs"},
		{"postgres://me:secret@db.example:5433/photos?sslmode=disable", filepath.Join(cache, "simsearch", "thumbs", "db.example_5433_photos")},
		{"postgresql://me@127.0.0.1/our%20photos", filepath.Join(cache, "simsearch", "thumbs", "127.0.0.1_5432_our_photos")},
		{"postgres://me@db/../../etc", filepath.Join(cache, "simsearch", "thumbs", "db_5432_.._.._etc")},
	} {
		got, err := thumbDir(c.db)
		if err != nil || got != c.want {
			t.Errorf("thumbDir(%q) = %q, %v; want %q", c.db, got, err, c.want)
		}
	}
}

package simsearch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// serveEngine indexes a few sample photos into a new database.
func serveEngine(t *testing.T) (*Engine, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "photos")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"cat.jpg", "dahlia.jpg", "astronaut.jpg", "clock.jpg", "cups.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", "photos", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	if _, err := e.Index(context.Background(), []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	return e, paths
}

// Items pages through every item once, in id order, whatever the page
// size; Item and Len agree with them.
func TestEngine_ItemsPages(t *testing.T) {
	e, paths := serveEngine(t)
	var all []uint64
	if err := e.ForEachItem(func(it Item) error { all = append(all, it.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != len(paths) {
		t.Fatalf("%d items stored, want %d", len(all), len(paths))
	}
	for _, size := range []int{1, 2, 4, len(all), len(all) + 3} {
		var got []uint64
		var after uint64
		for pages := 0; ; pages++ {
			page, err := e.Items(after, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > size {
				t.Fatalf("page of %d holds %d items", size, len(page))
			}
			if len(page) == 0 || pages > len(all) {
				break
			}
			for _, it := range page {
				got = append(got, it.ID)
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, all) {
			t.Errorf("pages of %d: ids %v, want %v", size, got, all)
		}
	}
	if page, err := e.Items(0, 0); err != nil || len(page) != 0 {
		t.Errorf("Items(0, 0) = %d items, %v; want none", len(page), err)
	}
	n, err := e.Len()
	if err != nil || n != len(all) {
		t.Errorf("Len = %d, %v; want %d", n, err, len(all))
	}
	it, ok, err := e.Item(all[1])
	if err != nil || !ok || it.ID != all[1] || !slices.Contains(paths, it.Path) {
		t.Errorf("Item(%d) = %+v, %v, %v", all[1], it, ok, err)
	}
	if _, ok, err := e.Item(all[len(all)-1] + 100); ok || err != nil {
		t.Errorf("Item of an unknown id: found %v, %v; want not found", ok, err)
	}
}

// pngHeader is the start of a PNG that declares w×h pixels and has no
// pixel data.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], 13)
	b.Write(n[:])
	b.Write(ihdr)
	binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(ihdr))
	b.Write(n[:])
	return b.Bytes()
}

// QueryImage finds the photo whose bytes it is given first, and an
// upload that is no image, or declares too many pixels, is an unusable
// image with its reason.
func TestEngine_QueryImage(t *testing.T) {
	e, paths := serveEngine(t)
	ctx := context.Background()
	b, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.QueryImage(ctx, "upload.jpg", bytes.NewReader(b), &QueryOptions{K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m[0].Path != paths[1] || m[0].Score < 0.999 {
		t.Fatalf("query by the bytes of %s: %+v; want it first with score 1", paths[1], m)
	}
	for _, c := range []struct {
		name   string
		data   []byte
		reason error
	}{
		{"notes.txt", []byte("not a photo at all"), ErrNotImage},
		{"bomb.png", pngHeader(100_000, 100_000), ErrTooManyPixels},
	} {
		_, err := e.QueryImage(ctx, c.name, bytes.NewReader(c.data), nil)
		if !errors.Is(err, ErrUnusableImage) || !errors.Is(err, c.reason) {
			t.Errorf("query by %s: %v; want ErrUnusableImage and %v", c.name, err, c.reason)
		}
	}
}

// After Release a writer gets the database at once, whatever the read
// engine's last call was.
func TestEngine_ReleaseLetsWriterIn(t *testing.T) {
	e, _ := serveEngine(t)
	db := e.Path()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ro, err := Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Stats(); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.FindDuplicates(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := ro.Release(); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("open for writing after Release: %v", err)
	}
	w.Close()
	// The read engine still answers.
	if n, err := ro.Len(); err != nil || n != 5 {
		t.Errorf("Len after the writer: %d, %v", n, err)
	}
}

// A long-lived read engine sees photos another engine indexed after
// ItemsVersion moves and Refresh runs, and not before.
func TestEngine_RefreshSeesOtherWriters(t *testing.T) {
	e, paths := serveEngine(t)
	ctx := context.Background()
	e.Release() // as an index run does between commits
	ro, err := Open(ctx, &Options{DB: e.Path(), ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v0, err := ro.ItemsVersion()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "photos", "fig.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	fig := filepath.Join(filepath.Dir(paths[0]), "fig.jpg")
	if err := os.WriteFile(fig, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Index(ctx, []string{filepath.Dir(fig)}, nil); err != nil {
		t.Fatal(err)
	}
	e.Release()
	first := func() string {
		t.Helper()
		m, err := ro.QueryImage(ctx, "fig.jpg", bytes.NewReader(b), &QueryOptions{K: 1})
		if err != nil || len(m) != 1 {
			t.Fatalf("query: %v, %v", m, err)
		}
		return m[0].Path
	}
	if got := first(); got == fig {
		t.Fatalf("the read engine found %s before Refresh: the test shows nothing", fig)
	}
	if v1, err := ro.ItemsVersion(); err != nil || v1 == v0 {
		t.Fatalf("ItemsVersion after another engine indexed: %d, %v; was %d", v1, err, v0)
	}
	if err := ro.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := first(); got != fig {
		t.Errorf("after Refresh the first match is %s, want %s", got, fig)
	}
}

package index_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// fileAt writes prefix bytes and then snap to a new file and returns it
// open for reading.
func fileAt(t *testing.T, prefix int, snap []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap.hnsw")
	if err := os.WriteFile(path, append(make([]byte, prefix), snap...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func saved(t *testing.T, h *index.HNSW, aligned bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	save := h.Save
	if aligned {
		save = h.SaveAligned
	}
	if err := save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testGraph is an HNSW of n clustered vectors with a few tombstones.
func testGraph(t *testing.T, n, dims int) (*index.HNSW, [][]float32) {
	t.Helper()
	data := indextest.Clustered(n+20, dims, 31)
	h := index.NewHNSW(dims, nil)
	fill(t, h, data[:n], 1)
	for id := uint64(5); id < 50; id += 9 {
		h.Delete(id)
	}
	return h, data[n:]
}

// A snapshot loaded from a file by LoadFile, mapped in place or not, is
// the index Load makes of the same bytes: the same hits for every query
// and the same bytes when saved again. An aligned (version 3) snapshot
// at a 64-byte offset is used in place on Linux; a version 2 one and an
// odd offset load as well.
func TestHNSW_LoadFileSameAsLoad(t *testing.T) {
	h, queries := testGraph(t, 600, 24)
	plain := saved(t, h, false)
	aligned := saved(t, h, true)
	if bytes.Equal(plain, aligned) {
		t.Fatal("SaveAligned wrote what Save writes")
	}
	fromStream := index.NewHNSW(24, nil)
	if err := fromStream.Load(bytes.NewReader(aligned)); err != nil {
		t.Fatalf("Load of an aligned snapshot: %v", err)
	}
	cases := []struct {
		name    string
		prefix  int
		snap    []byte
		inPlace bool
	}{
		{"aligned at 64", 64, aligned, runtime.GOOS == "linux"},
		{"aligned at 0", 0, aligned, runtime.GOOS == "linux"},
		{"aligned at 3", 3, aligned, false},
		{"version 2 at 64", 64, plain, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := index.NewHNSW(24, nil)
			if err := got.LoadFile(fileAt(t, c.prefix, c.snap), int64(c.prefix)); err != nil {
				t.Fatal(err)
			}
			if index.Mapped(got) != c.inPlace && c.inPlace {
				t.Errorf("arrays used in place: %t, want %t", index.Mapped(got), c.inPlace)
			}
			for _, want := range []*index.HNSW{h, fromStream} {
				for _, q := range queries {
					if a, b := search(t, want, q, 10, 50), search(t, got, q, 10, 50); !equalHits(a, b) {
						t.Fatalf("hits %v, want %v", b, a)
					}
				}
			}
			if again := saved(t, got, false); !bytes.Equal(again, plain) {
				t.Error("the loaded index saves other bytes")
			}
			if got.Len() != h.Len() || got.Options() != h.Options() {
				t.Errorf("Len %d, options %+v; want %d, %+v", got.Len(), got.Options(), h.Len(), h.Options())
			}
		})
	}
}

// A damaged file is ErrCorrupt, whatever was damaged (vectors, neighbour
// lists, padding, checksum), and leaves the index as it was; so are a
// truncated file, bytes after the snapshot and an offset past the end.
func TestHNSW_LoadFileRejectsDamage(t *testing.T) {
	h, queries := testGraph(t, 300, 16)
	good := saved(t, h, true)
	truncated := good[:len(good)/2]
	extra := append(bytes.Clone(good), 0)
	// Offsets of a vector byte, a level-0 list byte and a padding byte,
	// found as bytes that differ between the aligned and the plain form.
	cases := map[string][]byte{
		"vector":    flip(good, len(good)/3),
		"links":     flip(good, len(good)-200),
		"checksum":  flip(good, len(good)-1),
		"padding":   flip(good, firstPadding(t, good, saved(t, h, false))),
		"truncated": truncated,
		"extra":     extra,
		"empty":     nil,
	}
	for name, snap := range cases {
		t.Run(name, func(t *testing.T) {
			target := index.NewHNSW(16, nil)
			fill(t, target, queries[:3], 1000)
			err := target.LoadFile(fileAt(t, 64, snap), 64)
			if !errors.Is(err, index.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if target.Len() != 3 || index.Mapped(target) {
				t.Errorf("a failed LoadFile changed the index: Len %d, mapped %t", target.Len(), index.Mapped(target))
			}
		})
	}
	target := index.NewHNSW(16, nil)
	if err := target.LoadFile(fileAt(t, 64, good), int64(64+len(good)+1)); !errors.Is(err, index.ErrCorrupt) {
		t.Errorf("offset past the end: err = %v, want ErrCorrupt", err)
	}
}

// A file cut short by someone else after it was mapped faults when its
// lost pages are read; LoadFile's decoding turns that into ErrCorrupt
// instead of a crash.
func TestHNSW_LoadFileCutUnderTheMap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("files are mapped on Linux only")
	}
	h, _ := testGraph(t, 2000, 32) // several pages of vectors
	f := fileAt(t, 0, saved(t, h, true))
	err := index.LoadCutUnderMap(index.NewHNSW(32, nil), f, 4096)
	if !errors.Is(err, index.ErrCorrupt) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("err = %v, want ErrCorrupt for a memory fault", err)
	}
}

// firstPadding returns the offset of a padding byte of aligned: the first
// byte where it differs from plain, which lacks the padding.
func firstPadding(t *testing.T, aligned, plain []byte) int {
	t.Helper()
	for i := 12; i < len(plain); i++ { // past the magic and version
		if aligned[i] != plain[i] {
			if aligned[i] != 0 {
				t.Fatalf("byte %d of the aligned snapshot is %#x, want padding", i, aligned[i])
			}
			return i
		}
	}
	t.Fatal("no padding in an aligned snapshot")
	return 0
}

// A graph loaded from a map survives what a server does to it: searches
// while inserts, replacements and deletes (enough to rebuild the graph)
// run, Saves, and a second LoadFile that drops the first map while a Save
// may still read from it. The file is never written, and the final graph
// holds exactly the vectors it was given.
func TestHNSW_LoadFileThenChange(t *testing.T) {
	const dims = 12
	h, _ := testGraph(t, 400, dims)
	snap := saved(t, h, true)
	f := fileAt(t, 64, snap)
	sum := fileSum(t, f)
	extra := indextest.Clustered(300, dims, 77)

	got := index.NewHNSW(dims, nil)
	if err := got.LoadFile(f, 64); err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]float32{}
	for _, id := range h.IDs() {
		v, _ := h.Vector(id)
		want[id] = v
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards want
	wg.Go(func() {    // inserts and replacements
		for i, v := range extra[:200] {
			id := uint64(2000 + i)
			if i%3 == 0 {
				id = uint64(1 + i) // an id the snapshot holds: a replacement
			}
			if err := got.Add(id, v); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[id] = v
			mu.Unlock()
		}
	})
	wg.Go(func() { // deletes, past the 20% that rebuilds the graph
		for id := uint64(100); id < 250; id++ {
			if got.Delete(id) {
				mu.Lock()
				delete(want, id)
				mu.Unlock()
			}
		}
	})
	wg.Go(func() { // searches and saves
		for i, q := range extra[200:] {
			if _, err := got.Search(q, 5, 0); err != nil {
				t.Error(err)
			}
			if i%25 == 0 {
				var buf bytes.Buffer
				if err := got.SaveAligned(&buf); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	// The deletes ran beside the inserts: ids 100–249 that an insert
	// added back after its delete are live; Delete again to settle.
	for id := uint64(100); id < 250; id++ {
		got.Delete(id)
		delete(want, id)
	}
	checkHolds(t, got, want)

	// A second LoadFile replaces the graph while Saves of the first run.
	var saves sync.WaitGroup
	for range 4 {
		saves.Go(func() {
			var buf bytes.Buffer
			if err := got.Save(&buf); err != nil {
				t.Error(err)
				return
			}
			if err := index.NewHNSW(dims, nil).Load(&buf); err != nil {
				t.Errorf("a Save that ran across a LoadFile: %v", err)
			}
		})
	}
	if err := got.LoadFile(f, 64); err != nil {
		t.Fatal(err)
	}
	saves.Wait()
	if fileSum(t, f) != sum {
		t.Fatal("the mapped file changed")
	}
	fresh := map[uint64][]float32{}
	for _, id := range h.IDs() {
		v, _ := h.Vector(id)
		fresh[id] = v
	}
	checkHolds(t, got, fresh)
}

// checkHolds checks that h holds exactly want's ids and vectors, and that
// a search for each vector finds its id first.
func checkHolds(t *testing.T, h *index.HNSW, want map[uint64][]float32) {
	t.Helper()
	if h.Len() != len(want) {
		t.Errorf("Len %d, want %d", h.Len(), len(want))
	}
	missed := 0
	for id, v := range want {
		got, ok := h.Vector(id)
		if !ok || !slices.Equal(got, v) {
			t.Fatalf("vector %d: %t, differs", id, ok)
		}
		if hits := search(t, h, v, 1, 64); len(hits) == 0 || hits[0].ID != id {
			missed++
		}
	}
	if missed > len(want)/50 {
		t.Errorf("%d of %d vectors not found first by their own search", missed, len(want))
	}
}

func fileSum(t *testing.T, f *os.File) [32]byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

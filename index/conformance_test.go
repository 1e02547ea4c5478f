package index_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// impls is the table every conformance test runs over.
var impls = []struct {
	name string
	new  func(dims int) index.Index
}{
	{"Flat", func(d int) index.Index { return index.NewFlat(d) }},
	{"HNSW", func(d int) index.Index { return index.NewHNSW(d, nil) }},
}

func forEach(t *testing.T, test func(t *testing.T, newIndex func(dims int) index.Index)) {
	t.Helper()
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			test(t, im.new)
		})
	}
}

func fill(t testing.TB, idx index.Index, vecs [][]float32, firstID uint64) {
	t.Helper()
	if b, ok := idx.(interface {
		AddBatch([]uint64, [][]float32) error
	}); ok {
		ids := make([]uint64, len(vecs))
		for i := range ids {
			ids[i] = firstID + uint64(i)
		}
		if err := b.AddBatch(ids, vecs); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, v := range vecs {
		if err := idx.Add(firstID+uint64(i), v); err != nil {
			t.Fatal(err)
		}
	}
}

func search(t testing.TB, idx index.Index, q []float32, k, ef int) []index.Hit {
	t.Helper()
	hits, err := idx.Search(q, k, ef)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func checkSorted(t testing.TB, hits []index.Hit) {
	t.Helper()
	if !slices.IsSortedFunc(hits, func(a, b index.Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	}) {
		t.Errorf("hits not best first: %v", hits)
	}
}

func TestIndex_RecallAgainstExact(t *testing.T) {
	n, nq, dims := 20000, 200, 512
	if raceEnabled || testing.Short() {
		n, nq, dims = 3000, 50, 128
	}
	data := indextest.Clustered(n+nq, dims, 7)
	base, queries := data[:n], data[n:]
	truth := indextest.TopK(base, queries, 10)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(dims)
		fill(t, idx, base, 0)
		var sum float64
		for qi, q := range queries {
			hits := search(t, idx, q, 10, 0)
			checkSorted(t, hits)
			want := make([]uint64, len(truth[qi]))
			for i, b := range truth[qi] {
				want[i] = uint64(b)
			}
			got := make([]uint64, len(hits))
			for i, h := range hits {
				got[i] = h.ID
			}
			sum += indextest.Recall(want, got)
		}
		recall := sum / float64(len(queries))
		t.Logf("recall@10 = %.4f on %d×%d", recall, n, dims)
		if recall < 0.95 {
			t.Errorf("recall@10 = %.4f, want ≥ 0.95", recall)
		}
	})
}

func TestIndex_SelfIsNearest(t *testing.T) {
	data := indextest.Clustered(500, 32, 3)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(32)
		fill(t, idx, data, 1000)
		for i, v := range data {
			hits := search(t, idx, v, 1, 0)
			if len(hits) != 1 || hits[0].ID != 1000+uint64(i) {
				t.Fatalf("vector %d: nearest %v, want itself", i, hits)
			}
			if hits[0].Score < 0.999 || hits[0].Score > 1.001 {
				t.Fatalf("vector %d: self score %v, want 1", i, hits[0].Score)
			}
		}
	})
}

func TestIndex_DeletedNeverReturned(t *testing.T) {
	const n = 1000
	data := indextest.Clustered(n, 32, 5)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(32)
		fill(t, idx, data, 0)
		// Delete every third vector: more than the 20% that makes HNSW
		// compact, so both tombstones and a rebuild are exercised.
		deleted := map[uint64]bool{}
		for i := uint64(0); i < n; i += 3 {
			if !idx.Delete(i) {
				t.Fatalf("Delete(%d) = false, want true", i)
			}
			deleted[i] = true
			if i%150 == 0 { // interleave searches with the deletes
				for _, h := range search(t, idx, data[i], 20, 0) {
					if deleted[h.ID] {
						t.Fatalf("deleted %d returned", h.ID)
					}
				}
			}
		}
		if idx.Delete(0) {
			t.Error("second Delete(0) = true, want false")
		}
		if got, want := idx.Len(), n-len(deleted); got != want {
			t.Errorf("Len = %d, want %d", got, want)
		}
		for i, v := range data {
			hits := search(t, idx, v, 10, 0)
			for _, h := range hits {
				if deleted[h.ID] {
					t.Fatalf("query %d: deleted id %d returned", i, h.ID)
				}
			}
			if !deleted[uint64(i)] && (len(hits) == 0 || hits[0].ID != uint64(i)) {
				t.Fatalf("live vector %d not its own nearest after deletes: %v", i, hits)
			}
		}
	})
}

func TestIndex_ReAddReplacesVector(t *testing.T) {
	data := indextest.Clustered(300, 16, 9)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(16)
		fill(t, idx, data[:200], 0)
		for round := range 3 { // re-add the same ids several times
			for i := range 100 {
				if err := idx.Add(uint64(i), data[200+(i+round)%100]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := idx.Len(); got != 200 {
			t.Fatalf("Len = %d after re-adding, want 200", got)
		}
		for i := range 100 {
			hits := search(t, idx, data[200+(i+2)%100], 1, 0)
			if len(hits) != 1 || hits[0].ID != uint64(i) || hits[0].Score < 0.999 {
				t.Fatalf("id %d: got %v, want its replacement vector", i, hits)
			}
			// The old vector is gone: its best match is no longer id i at 1.0.
			if hits := search(t, idx, data[i], 1, 0); len(hits) == 1 && hits[0].ID == uint64(i) && hits[0].Score > 0.999 {
				t.Fatalf("id %d still holds its first vector", i)
			}
		}
	})
}

func TestIndex_SaveLoadIdentical(t *testing.T) {
	data := indextest.Clustered(1500, 64, 11)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(64)
		fill(t, idx, data[:1000], 0)
		for i := uint64(0); i < 1000; i += 10 { // tombstones travel too
			idx.Delete(i)
		}
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			t.Fatal(err)
		}
		saved := buf.Bytes()
		loaded := newIndex(64)
		if err := loaded.Load(bytes.NewReader(saved)); err != nil {
			t.Fatal(err)
		}
		if loaded.Len() != idx.Len() {
			t.Fatalf("Len after load = %d, want %d", loaded.Len(), idx.Len())
		}
		for _, q := range data[1000:] {
			want, got := search(t, idx, q, 10, 0), search(t, loaded, q, 10, 0)
			if !slices.Equal(want, got) {
				t.Fatalf("after load\n got %v\nwant %v", got, want)
			}
		}
		// Saving the loaded index reproduces the bytes.
		var again bytes.Buffer
		if err := loaded.Save(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(saved, again.Bytes()) {
			t.Error("save → load → save changed the bytes")
		}
		// Both keep working after the round trip.
		if err := loaded.Add(5000, data[1200]); err != nil {
			t.Fatal(err)
		}
		if hits := search(t, loaded, data[1200], 1, 0); len(hits) != 1 || hits[0].ID != 5000 {
			t.Errorf("add after load: got %v, want id 5000", hits)
		}
	})
}

func TestIndex_LoadRejectsDamage(t *testing.T) {
	data := indextest.Clustered(100, 8, 13)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(8)
		fill(t, idx, data, 0)
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			t.Fatal(err)
		}
		good := buf.Bytes()
		cases := []struct {
			name string
			in   []byte
			want error
		}{
			{"empty", nil, index.ErrCorrupt},
			{"wrong magic", append([]byte("NOTANIDX"), good[8:]...), index.ErrFormat},
			{"future version", append(append(slices.Clone(good[:8]), 99, 0, 0, 0), good[12:]...), index.ErrFormat},
			{"bit flip", flip(good, len(good)/2), index.ErrCorrupt},
			{"checksum flip", flip(good, len(good)-1), index.ErrCorrupt},
		}
		for _, cut := range []int{9, 13, 20, 40, len(good) / 3, len(good) - 5, len(good) - 1} {
			cases = append(cases, struct {
				name string
				in   []byte
				want error
			}{fmt.Sprintf("truncated at %d", cut), good[:cut], index.ErrCorrupt})
		}
		for _, c := range cases {
			target := newIndex(8)
			fill(t, target, data[:3], 77)
			err := target.Load(bytes.NewReader(c.in))
			if !errors.Is(err, c.want) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			}
			if target.Len() != 3 {
				t.Errorf("%s: failed Load changed the index (Len %d, want 3)", c.name, target.Len())
			}
		}
		// Loading into an index of other dims is a dims error.
		if err := newIndex(9).Load(bytes.NewReader(good)); !errors.Is(err, index.ErrDims) {
			t.Errorf("load into 9 dims: err = %v, want ErrDims", err)
		}
	})
}

func flip(b []byte, at int) []byte {
	c := slices.Clone(b)
	c[at] ^= 0x40
	return c
}

func TestIndex_KLargerThanLen(t *testing.T) {
	data := indextest.Clustered(5, 8, 17)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(8)
		fill(t, idx, data, 0)
		hits := search(t, idx, data[0], 50, 0)
		if len(hits) != 5 {
			t.Fatalf("got %d hits for k=50 over 5 vectors, want 5", len(hits))
		}
		checkSorted(t, hits)
		seen := map[uint64]bool{}
		for _, h := range hits {
			if seen[h.ID] {
				t.Fatalf("id %d returned twice: %v", h.ID, hits)
			}
			seen[h.ID] = true
		}
		if hits := search(t, idx, data[0], 0, 0); len(hits) != 0 {
			t.Errorf("k=0: got %v, want none", hits)
		}
	})
}

func TestIndex_Empty(t *testing.T) {
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(4)
		q := []float32{1, 0, 0, 0}
		if hits := search(t, idx, q, 10, 0); len(hits) != 0 {
			t.Errorf("empty index returned %v", hits)
		}
		if idx.Len() != 0 || idx.Delete(1) {
			t.Error("empty index: Len != 0 or Delete succeeded")
		}
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			t.Fatal(err)
		}
		loaded := newIndex(4)
		if err := loaded.Load(&buf); err != nil {
			t.Fatal(err)
		}
		if hits := search(t, loaded, q, 10, 0); len(hits) != 0 || loaded.Len() != 0 {
			t.Errorf("loaded empty index: Len %d, hits %v", loaded.Len(), hits)
		}
		// Deleting the only vector leaves a searchable, empty index.
		if err := loaded.Add(1, q); err != nil {
			t.Fatal(err)
		}
		loaded.Delete(1)
		if hits := search(t, loaded, q, 10, 0); len(hits) != 0 {
			t.Errorf("after deleting the only vector: %v", hits)
		}
		if err := loaded.Add(2, q); err != nil {
			t.Fatal(err)
		}
		if hits := search(t, loaded, q, 10, 0); len(hits) != 1 || hits[0].ID != 2 {
			t.Errorf("add after emptying: %v, want id 2", hits)
		}
	})
}

func TestIndex_DimsMismatch(t *testing.T) {
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(4)
		if err := idx.Add(1, []float32{1, 0, 0}); !errors.Is(err, index.ErrDims) {
			t.Errorf("Add 3 dims: err = %v, want ErrDims", err)
		}
		if err := idx.Add(1, nil); !errors.Is(err, index.ErrDims) {
			t.Errorf("Add nil: err = %v, want ErrDims", err)
		}
		if _, err := idx.Search([]float32{1, 0, 0, 0, 0}, 1, 0); !errors.Is(err, index.ErrDims) {
			t.Errorf("Search 5 dims: err = %v, want ErrDims", err)
		}
		if idx.Len() != 0 {
			t.Errorf("Len = %d after rejected adds", idx.Len())
		}
	})
}

func TestIndex_ConcurrentUse(t *testing.T) {
	const writers, perWriter, dims = 4, 150, 16
	data := indextest.Clustered(writers*perWriter, dims, 19)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(dims)
		fill(t, idx, data[:50], 0) // something to search from the start
		var wg sync.WaitGroup
		errs := make(chan error, writers*2)
		for w := range writers {
			wg.Go(func() { // adds, re-adds and deletes
				for i := range perWriter {
					id := uint64(w*perWriter + i)
					if err := idx.Add(id, data[id]); err != nil {
						errs <- err
						return
					}
					if i%5 == 0 {
						idx.Delete(id)
						if err := idx.Add(id, data[id]); err != nil {
							errs <- err
							return
						}
					}
				}
			})
			wg.Go(func() { // searches
				for i := range perWriter {
					if _, err := idx.Search(data[(w+i*7)%len(data)], 5, 0); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() { // a concurrent Save must not race either
			var buf bytes.Buffer
			if err := idx.Save(&buf); err != nil {
				errs <- err
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := idx.Len(); got != writers*perWriter {
			t.Fatalf("Len = %d, want %d", got, writers*perWriter)
		}
		for id, v := range data {
			if hits := search(t, idx, v, 1, 0); len(hits) != 1 || hits[0].ID != uint64(id) {
				t.Fatalf("id %d not found after concurrent adds: %v", id, hits)
			}
		}
	})
}

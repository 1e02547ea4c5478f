package index_test

import (
	"slices"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

func TestHNSW_IDsAndContains(t *testing.T) {
	h := index.NewHNSW(16, nil)
	for i, v := range indextest.Clustered(50, 16, 1) {
		if err := h.Add(uint64(i+1), v); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(1); id <= 50; id += 2 {
		h.Delete(id)
	}
	ids := h.IDs()
	slices.Sort(ids)
	var want []uint64
	for id := uint64(2); id <= 50; id += 2 {
		want = append(want, id)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("IDs() = %v, want the even ids 2..50", ids)
	}
	data := indextest.Clustered(50, 16, 1)
	if v, ok := h.Vector(2); !ok || !slices.Equal(v, data[1]) {
		t.Errorf("Vector(2) = %v, %t; want the vector added under 2", v, ok)
	}
	if _, ok := h.Vector(1); ok {
		t.Error("Vector(1) of a deleted id reports it live")
	}
	if h.Contains(1) || !h.Contains(2) || h.Contains(51) {
		t.Errorf("Contains(1, 2, 51) = %t %t %t, want false true false", h.Contains(1), h.Contains(2), h.Contains(51))
	}
}

// AddBatch replaces the vectors of ids the index already holds, as Add
// does, also when the tombstones it leaves make the graph compact itself
// in the middle of a batch.
func TestHNSW_AddBatchReplacesHeldIDs(t *testing.T) {
	data := indextest.Clustered(300, 16, 9)
	h := index.NewHNSW(16, nil)
	ids := make([]uint64, 200)
	for i := range ids {
		ids[i] = uint64(i)
	}
	if err := h.AddBatch(ids, data[:200]); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		vecs := make([][]float32, 100)
		for i := range vecs {
			vecs[i] = data[200+(i+round)%100]
		}
		if err := h.AddBatch(ids[:100], vecs); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Len(); got != 200 {
		t.Fatalf("Len = %d after re-adding, want 200", got)
	}
	for i := range 200 {
		want := data[i]
		if i < 100 {
			want = data[200+(i+2)%100]
		}
		if v, ok := h.Vector(uint64(i)); !ok || !slices.Equal(v, want) {
			t.Fatalf("Vector(%d): live %t, not the last vector added under it", i, ok)
		}
		hits, err := h.Search(want, 1, 0)
		if err != nil || len(hits) != 1 || hits[0].ID != uint64(i) {
			t.Fatalf("id %d: search for its vector gives %v, %v", i, hits, err)
		}
	}
}

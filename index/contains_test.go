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

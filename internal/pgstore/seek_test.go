package pgstore

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/simsearch/simsearch/internal/store"
)

// ItemsAfter returns the same pages as ForEachItem's walk, across gaps in
// the ids, at the end and past the largest bigint.
func TestItemsAfter_PagesAsAWalk(t *testing.T) {
	db, err := Open(testDSN(t), &Options{Dims: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := make([]store.Record, 500)
	for i := range recs {
		recs[i] = store.Record{Item: store.Item{Path: fmt.Sprintf("/p/%04d.jpg", i), Size: int64(i + 1), Format: "jpeg"}, Vector: []float32{1, float32(i)}}
	}
	ids, err := db.Put(recs)
	if err != nil {
		t.Fatal(err)
	}
	var gone []uint64
	for i, id := range ids {
		if i%5 == 2 || (i >= 200 && i < 260) {
			gone = append(gone, id)
		}
	}
	if err := db.Delete(gone); err != nil {
		t.Fatal(err)
	}
	var all []store.Item
	if err := db.ForEachItem(func(it store.Item) error { all = append(all, it); return nil }); err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1].ID
	for _, c := range []struct {
		after uint64
		limit int
	}{{0, 60}, {ids[199], 60}, {ids[200], 7}, {ids[450], 500}, {last, 60}, {math.MaxInt64, 60}, {math.MaxUint64, 60}, {0, 0}} {
		got, err := db.ItemsAfter(c.after, c.limit)
		if err != nil {
			t.Fatalf("ItemsAfter(%d, %d): %v", c.after, c.limit, err)
		}
		var want []store.Item
		for _, it := range all {
			if it.ID > c.after && len(want) < c.limit {
				want = append(want, it)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ItemsAfter(%d, %d): %d items, want %d", c.after, c.limit, len(got), len(want))
		}
	}
}

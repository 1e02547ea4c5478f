package store

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

// ItemsAfter returns the same pages as a walk from the start, deep in a
// database with gaps in its ids, at the end and past it.
func TestItemsAfter_PagesAsAWalk(t *testing.T) {
	db := openTest(t, &Options{Dims: 4})
	var ids []uint64
	for from := 0; from < 5000; from += 1000 {
		ids = append(ids, mustPut(t, db, testRecords(from, 1000, 4))...)
	}
	// Gaps: every seventh item deleted, and a run of 300.
	var gone []uint64
	for i, id := range ids {
		if i%7 == 3 || (i >= 3100 && i < 3400) {
			gone = append(gone, id)
		}
	}
	if err := db.Delete(gone); err != nil {
		t.Fatal(err)
	}
	var all []Item
	if err := db.ForEachItem(func(it Item) error { all = append(all, it); return nil }); err != nil {
		t.Fatal(err)
	}
	// want is the walk's page: the items above after, at most limit.
	want := func(after uint64, limit int) []Item {
		var page []Item
		for _, it := range all {
			if it.ID > after && len(page) < limit {
				page = append(page, it)
			}
		}
		return page
	}
	last := all[len(all)-1].ID
	for _, c := range []struct {
		after uint64
		limit int
	}{
		{0, 60}, {ids[3099], 60}, {ids[3100], 60}, {ids[3399], 1}, {ids[4000], 1500},
		{ids[4980], 60}, {last - 1, 60}, {last, 60}, {math.MaxUint64 - 1, 60}, {math.MaxUint64, 60}, {ids[10], 0},
	} {
		got, err := db.ItemsAfter(c.after, c.limit)
		if err != nil {
			t.Fatalf("ItemsAfter(%d, %d): %v", c.after, c.limit, err)
		}
		if w := want(c.after, c.limit); !reflect.DeepEqual(got, w) {
			t.Errorf("ItemsAfter(%d, %d): %d items from %v, want %d from %v", c.after, c.limit, len(got), firstID(got), len(w), firstID(w))
		}
	}
	// Walking page by page visits every item once.
	var walked []Item
	for after := uint64(0); ; {
		page, err := db.ItemsAfter(after, 333)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(walked, all) {
		t.Errorf("paging by 333 visits %d items, want the %d stored", len(walked), len(all))
	}
}

func firstID(items []Item) any {
	if len(items) == 0 {
		return "none"
	}
	return items[0].ID
}

// BenchmarkItemsAfter is a page of 60 near the start and near the end of
// 20,000 items: the same cost.
func BenchmarkItemsAfter(b *testing.B) {
	db := openTest(b, &Options{Dims: 4})
	var ids []uint64
	for from := 0; from < 20000; from += 1000 {
		ids = append(ids, mustPut(b, db, testRecords(from, 1000, 4))...)
	}
	for _, at := range []int{0, len(ids) - 100} {
		b.Run(fmt.Sprintf("after=%d", at), func(b *testing.B) {
			for b.Loop() {
				if page, err := db.ItemsAfter(ids[at], 60); err != nil || len(page) != 60 {
					b.Fatalf("%d items, %v", len(page), err)
				}
			}
		})
	}
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/simsearch/simsearch"
)

// largeDB serves the database SIMSEARCH_WEB_BENCH_DB names (the bench's
// 100k-item one, say), read-only and without a model: what a query by id
// and a page of items cost at that size. The benchmarks skip without it.
func largeDB(b *testing.B) (*fixture, int) {
	b.Helper()
	path := os.Getenv("SIMSEARCH_WEB_BENCH_DB")
	if path == "" {
		b.Skip("SIMSEARCH_WEB_BENCH_DB names no database (a large one, such as the bench's big.db)")
	}
	eng, err := simsearch.Open(context.Background(), &simsearch.Options{
		DB: path, ReadOnly: true, ModelOptions: &simsearch.ModelOptions{Dir: b.TempDir()},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	n, err := eng.Len()
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{db: path}
	if f.h, err = New(eng, nil); err != nil {
		b.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	b.Cleanup(f.srv.Close)
	return f, n
}

// BenchmarkLarge_QueryByID is a warm query by a stored photo's id on the
// large database: the index search, the lookups of the results and JSON.
func BenchmarkLarge_QueryByID(b *testing.B) {
	f, n := largeDB(b)
	id := uint64(n / 2)
	for b.Loop() {
		if status, res, _ := f.do(b, "GET", fmt.Sprintf("/api/v1/query?id=%d&k=10", id), nil); status != 200 {
			b.Fatalf("%d %s", status, res)
		}
		id = id%uint64(n) + 1
	}
}

// BenchmarkLarge_ItemsPage is a page of 60 items after an id near the end
// of the large database: it must not cost more than a page at the start.
func BenchmarkLarge_ItemsPage(b *testing.B) {
	f, n := largeDB(b)
	for _, after := range []int{0, n / 2, n - 100} {
		b.Run(fmt.Sprintf("after=%d", after), func(b *testing.B) {
			for b.Loop() {
				status, res, _ := f.do(b, "GET", fmt.Sprintf("/api/v1/items?after=%d&limit=60", after), nil)
				var page itemsPage
				if status != 200 || json.Unmarshal(res, &page) != nil || len(page.Items) == 0 {
					b.Fatalf("%d %.200s", status, res)
				}
			}
		})
	}
}

// BenchmarkLarge_Item is one item by id on the large database: little
// more than the request and what reading the database costs.
func BenchmarkLarge_Item(b *testing.B) {
	f, n := largeDB(b)
	id := uint64(1)
	for b.Loop() {
		if status, res, _ := f.do(b, "GET", fmt.Sprintf("/api/v1/items/%d", id), nil); status != 200 {
			b.Fatalf("%d %s", status, res)
		}
		id = id%uint64(n) + 1
	}
}

// BenchmarkLarge_Search is the engine's search behind a query by id, at
// the index's tuned breadth and at ef 100: what the query by id costs
// beyond the request.
func BenchmarkLarge_Search(b *testing.B) {
	f, n := largeDB(b)
	id := uint64(n / 2)
	vec, err := f.h.eng.Vector(id)
	if err != nil {
		b.Fatal(err)
	}
	for _, ef := range []int{0, 100} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			for b.Loop() {
				if m, err := f.h.eng.QueryVector(vec, id, &simsearch.QueryOptions{K: 10, Ef: ef}); err != nil || len(m) == 0 {
					b.Fatalf("%d matches, %v", len(m), err)
				}
			}
		})
	}
}

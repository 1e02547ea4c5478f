package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

// putClustered stores vecs under /p/NNNNNNN.jpg and returns their ids in
// order.
func putClustered(tb testing.TB, db *DB, vecs [][]float32) []uint64 {
	tb.Helper()
	var ids []uint64
	for i := 0; i < len(vecs); i += 1000 {
		var recs []store.Record
		for j := i; j < min(i+1000, len(vecs)); j++ {
			recs = append(recs, store.Record{Item: store.Item{Path: fmt.Sprintf("/p/%07d.jpg", j)}, Vector: vecs[j]})
		}
		got, err := db.Put(recs)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

// explainKNN is the plan of Neighbours' statement for ids.
func explainKNN(t *testing.T, db *DB, ids []uint64, k int) string {
	t.Helper()
	var dims int
	if err := db.pool.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
		t.Fatal(err)
	}
	rows, err := db.pool.Query(ctx, "EXPLAIN "+knnSQL(dims), int64s(ids), k, float32(0.5))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestNeighbours_ThroughTheIndex: the statement searches the HNSW index
// once per item (never a scan of the table sorted by distance), each
// item finds itself first, the scores are the cosines of the stored
// vectors, the lists are best first, and they hold the exact nearest
// neighbours but for what an approximate search misses.
func TestNeighbours_ThroughTheIndex(t *testing.T) {
	const n, dims, k = 3000, 64, 11
	db, err := Open(testDSN(t), &Options{Dims: dims})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vecs, _ := clustered(n, 0, dims)
	ids := putClustered(t, db, vecs)
	if _, err := db.pool.Exec(ctx, "ANALYZE simsearch.items"); err != nil {
		t.Fatal(err)
	}
	if plan := explainKNN(t, db, ids[:300], k); !strings.Contains(plan, "Index Scan using "+hnswIndexName) {
		t.Fatalf("Neighbours' plan does not search %s:\n%s", hnswIndexName, plan)
	}
	byID := make(map[uint64][]float32, n)
	for i, id := range ids {
		byID[id] = vecs[i]
	}
	got := map[uint64][]index.Hit{}
	err = db.Neighbours(context.Background(), ids, k, 64, -1, func(id uint64, hs []index.Hit) error {
		if _, dup := got[id]; dup {
			t.Errorf("item %d emitted twice", id)
		}
		got[id] = hs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d of %d items emitted", len(got), n)
	}
	var rec float64
	for i, id := range ids {
		hs := got[id]
		if len(hs) != k || hs[0].ID != id {
			t.Fatalf("item %d: %d hits, first %v; want %d, itself first", id, len(hs), hs[0], k)
		}
		var want []uint64
		for _, j := range exactTop(vecs, vecs[i], k) {
			want = append(want, ids[j-1])
		}
		var hit []uint64
		for j, h := range hs {
			if j > 0 && h.Score > hs[j-1].Score {
				t.Fatalf("item %d: hits not best first: %v", id, hs)
			}
			if d := math.Abs(float64(h.Score - dot(vecs[i], byID[h.ID]))); d > 1e-5 {
				t.Fatalf("item %d: score %v to %d, its cosine is %v", id, h.Score, h.ID, dot(vecs[i], byID[h.ID]))
			}
			hit = append(hit, h.ID)
		}
		rec += recall(hit, want)
	}
	if r := rec / n; r < 0.9 {
		t.Errorf("recall@%d of Neighbours %.3f against the exact neighbours", k, r)
	}
	// minScore keeps only what scores at least it: the item itself.
	err = db.Neighbours(context.Background(), ids[:100], k, 64, 0.9999, func(id uint64, hs []index.Hit) error {
		for _, h := range hs {
			if h.Score < 0.9999 {
				t.Errorf("item %d: hit %v below the minimum score", id, h)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestNeighbours_Stops: a context cancelled during the first emit, or an
// emit that fails, stops the statements: Neighbours returns that error
// having emitted little of the rest.
func TestNeighbours_Stops(t *testing.T) {
	const n, dims = 4000, 32
	db, err := Open(testDSN(t), &Options{Dims: dims})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vecs, _ := clustered(n, 0, dims)
	ids := putClustered(t, db, vecs)
	c, cancel := context.WithCancel(context.Background())
	emitted := 0
	err = db.Neighbours(c, ids, 16, 256, -1, func(uint64, []index.Hit) error {
		emitted++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Neighbours after cancel = %v, want context.Canceled", err)
	}
	// What was in flight may still be emitted: a chunk per connection.
	if emitted > knnConns*knnChunk {
		t.Errorf("%d of %d items emitted after the context was cancelled by the first", emitted, n)
	}
	boom := errors.New("boom")
	emitted = 0
	err = db.Neighbours(context.Background(), ids, 16, 256, -1, func(uint64, []index.Hit) error {
		emitted++
		return boom
	})
	if !errors.Is(err, boom) || emitted != 1 {
		t.Fatalf("Neighbours with a failing emit = %v after %d emits, want boom after 1", err, emitted)
	}
}

package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

// putClustered stores vecs under /p/NNNNNNN.jpg, numbered from first,
// and returns their ids in order.
func putClustered(tb testing.TB, db *DB, vecs [][]float32, first int) []uint64 {
	tb.Helper()
	var ids []uint64
	for i := 0; i < len(vecs); i += 1000 {
		var recs []store.Record
		for j := i; j < min(i+1000, len(vecs)); j++ {
			recs = append(recs, store.Record{Item: store.Item{Path: fmt.Sprintf("/p/%07d.jpg", first+j)}, Vector: vecs[j]})
		}
		got, err := db.Put(recs)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

// explainKNN is the plan of Neighbours' statement for ids, with its
// settings.
func explainKNN(t *testing.T, db *DB, ids []uint64, k int) string {
	t.Helper()
	var dims int
	if err := db.pool.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
		t.Fatal(err)
	}
	var plan string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := knnSettings(tx, 64); err != nil {
			return err
		}
		plan = explain(t, tx, knnSQL(dims), int64s(ids), k, float32(0.5))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return plan
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
	// A small table, whose scan the planner prefers unless told.
	ids := putClustered(t, db, vecs[:500], 0)
	if _, err := db.pool.Exec(ctx, "ANALYZE simsearch.items"); err != nil {
		t.Fatal(err)
	}
	if plan := explainKNN(t, db, ids[:300], k); !strings.Contains(plan, "Index Scan using "+hnswIndexName) {
		t.Fatalf("Neighbours' plan does not search %s:\n%s", hnswIndexName, plan)
	}
	ids = append(ids, putClustered(t, db, vecs[500:], 500)...)
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
	ids := putClustered(t, db, vecs, 0)
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

// explain is the plan of sql with args.
func explain(t *testing.T, q querier, sql string, args ...any) string {
	t.Helper()
	rows, err := q.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestOpen_MigratesToHalfvec: a database of schema 2 (its HNSW index on
// the vectors, made by the old migrations and setDims) migrates on open:
// the index on half-precision copies replaces the old one, searches go
// through it, and they find what the old index found, with the same
// scores.
func TestOpen_MigratesToHalfvec(t *testing.T) {
	const n, dims, k, ef = 5000, 64, 10, 200
	dsn := testDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{migrations[1], migrations[2],
		"UPDATE simsearch.meta SET schema_version = 2, items_version = 7",
		fmt.Sprintf("UPDATE simsearch.meta SET dims = %d", dims),
		fmt.Sprintf("ALTER TABLE simsearch.items ALTER COLUMN v TYPE vector(%d)", dims),
		`CREATE INDEX items_v_hnsw ON simsearch.items USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	vecs, queries := clustered(n, 20, dims)
	var b pgx.Batch
	for i, v := range vecs {
		b.Queue(`INSERT INTO simsearch.items (path, size, mtime, hash, width, height, format, state, taken, taken_at, make, model, v)
			VALUES ($1, 0, 0, $2, 0, 0, '', 1, 0, '', '', '', $3::real[]::vector)`, []byte(fmt.Sprintf("/p/%04d.jpg", i)), make([]byte, 32), v)
	}
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE simsearch.items"); err != nil {
		t.Fatal(err)
	}
	oldSQL := `SELECT id, (1 - (v <=> $1::real[]::vector))::real FROM simsearch.items ORDER BY v <=> $1::real[]::vector LIMIT $2`
	if plan := explain(t, conn, oldSQL, queries[0], k); !strings.Contains(plan, "Index Scan using items_v_hnsw") {
		t.Fatalf("schema 2's search does not use its index:\n%s", plan)
	}
	before := make([][]index.Hit, len(queries))
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET hnsw.ef_search = %d", ef)); err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		rows, err := conn.Query(ctx, oldSQL, q, k)
		if err != nil {
			t.Fatal(err)
		}
		before[i], err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.Hit, error) {
			var id int64
			var h index.Hit
			err := r.Scan(&id, &h.Score)
			h.ID = uint64(id)
			return h, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	db, err := Open(dsn, &Options{Dims: dims})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m, err := db.Meta(); err != nil || m.SchemaVersion != SchemaVersion {
		t.Fatalf("after open: schema %d, %v; want %d", m.SchemaVersion, err, SchemaVersion)
	}
	// Items stored before schema 4 count as written at the version of
	// the migration.
	var since7 int
	if err := db.VectorsSince(6, func(uint64, []float32) error { since7++; return nil }); err != nil || since7 != n {
		t.Fatalf("VectorsSince(6) after the migration: %d of %d, %v", since7, n, err)
	}
	var idx []string
	rows, err := db.pool.Query(ctx, "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'simsearch' AND tablename = 'items' AND indexdef LIKE '%hnsw%'")
	if err != nil {
		t.Fatal(err)
	}
	if idx, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(idx) != 1 || !strings.HasPrefix(idx[0], hnswIndexName+" ") || !strings.Contains(idx[0], "halfvec_cosine_ops") {
		t.Fatalf("HNSW indexes after the migration: %q; want %s alone, on halfvec", idx, hnswIndexName)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := knnSettings(tx, ef); err != nil {
			return err
		}
		if plan := explain(t, tx, searchSQL(dims), queries[0], k, ef); !strings.Contains(plan, "Index Scan using "+hnswIndexName) {
			t.Errorf("Search does not use %s:\n%s", hnswIndexName, plan)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i, q := range queries {
		after, err := db.Search(ctx, q, k, ef)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after) == fmt.Sprint(before[i]) {
			same++
		}
		for j, h := range after {
			if d := math.Abs(float64(h.Score - dot(q, vecs[h.ID-1]))); d > 1e-5 {
				t.Fatalf("query %d hit %d: score %v, the vectors' cosine %v", i, j, h.Score, dot(q, vecs[h.ID-1]))
			}
		}
	}
	if same != len(queries) {
		t.Errorf("%d of %d queries found the same neighbours with the same scores after the migration", same, len(queries))
	}

	// A bulk load drops the index and builds it again.
	size, err := db.IndexBytes()
	if err != nil || size == 0 {
		t.Fatalf("IndexBytes = %d, %v", size, err)
	}
	if err := db.DropIndex(); err != nil {
		t.Fatal(err)
	}
	if n, err := db.IndexBytes(); err != nil || n != 0 {
		t.Fatalf("IndexBytes after DropIndex = %d, %v", n, err)
	}
	if err := db.BuildIndex(); err != nil {
		t.Fatal(err)
	}
	if n, err := db.IndexBytes(); err != nil || n == 0 {
		t.Fatalf("IndexBytes after BuildIndex = %d, %v; want an index again (%d bytes before)", n, err, size)
	}
}

// TestVectorsSince: what Put wrote after a version, replaced items with
// it; deleted ones are gone from ForEachID.
func TestVectorsSince(t *testing.T) {
	db, err := Open(testDSN(t), &Options{Dims: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vecs, _ := clustered(30, 0, 8)
	first := putClustered(t, db, vecs[:20], 0)
	m, _ := db.Meta()
	second := putClustered(t, db, vecs[20:], 20)
	again := putClustered(t, db, vecs[5:6], 5) // item 5 replaced
	if err := db.Delete(second[:2]); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	err = db.VectorsSince(m.ItemsVersion, func(id uint64, v []float32) error {
		got = append(got, id)
		return nil
	})
	want := append([]uint64{again[0]}, second[2:]...)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("VectorsSince(%d) = %v, %v; want %v", m.ItemsVersion, got, err, want)
	}
	var ids []uint64
	if err := db.ForEachID(func(id uint64) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if all := append(slices.Clone(first), second[2:]...); fmt.Sprint(ids) != fmt.Sprint(all) {
		t.Fatalf("ForEachID = %v, want %v", ids, all)
	}
}

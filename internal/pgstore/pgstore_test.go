package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://h/db?password=pw&sslmode=require", "postgresql://h/db?sslmode=require"},
		{"postgres://h/db", "postgres://h/db"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIsDSN(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://h/db": true, "postgresql://h/db": true,
		"/home/me/postgres://x": false, "photos.db": false, "host=h dbname=db": false,
	} {
		if IsDSN(s) != want {
			t.Errorf("IsDSN(%q) = %t", s, !want)
		}
	}
}

func TestJournalDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data")
	a := JournalDir("postgres://u:pw@db1:5432/photos")
	b := JournalDir("postgres://u@db2:5432/photos")
	if !strings.HasPrefix(a, "/data/simsearch/journal/") || strings.Contains(a, "pw") || a == b {
		t.Fatalf("JournalDir = %q and %q; want one per server and database, under XDG_DATA_HOME, without the password", a, b)
	}
	if strings.Count(strings.TrimPrefix(a, "/data/simsearch/journal/"), "/") != 0 {
		t.Fatalf("JournalDir %q nests folders", a)
	}
}

var seq atomic.Int64

// testDSN is a new database on the server SIMSEARCH_TEST_PG names
// (scripts/postgres.sh starts one), dropped at the end; skips without.
func testDSN(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("SIMSEARCH_TEST_PG")
	if admin == "" {
		tb.Skip("no PostgreSQL server: SIMSEARCH_TEST_PG is not set (make test sets it through scripts/postgres.sh)")
	}
	name := fmt.Sprintf("pgstore_test_%d_%d", os.Getpid(), seq.Add(1))
	exec := func(sql string) {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			tb.Fatal(err)
		}
	}
	exec("CREATE DATABASE " + name)
	tb.Cleanup(func() { exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestOpen_Migrates: a new database gets the tables at SchemaVersion and
// the HNSW index once the dimensions are known; two opens at once both
// succeed (the migration lock), and a reopen changes nothing.
func TestOpen_Migrates(t *testing.T) {
	dsn := testDSN(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			db, err := Open(dsn, &Options{Fingerprint: "fp", Dims: 8})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(dsn, &Options{Fingerprint: "fp"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Meta()
	if err != nil || m.SchemaVersion != SchemaVersion || m.Dims != 8 || m.Fingerprint != "fp" {
		t.Fatalf("Meta = %+v, %v", m, err)
	}
	var def string
	if err := db.pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'simsearch' AND indexname = $1", hnswIndexName).Scan(&def); err != nil {
		t.Fatalf("no HNSW index: %v", err)
	}
	if !strings.Contains(def, "hnsw") || !strings.Contains(def, "halfvec_cosine_ops") {
		t.Fatalf("index %s", def)
	}
}

// TestPut_PathTwice: a batch naming a path twice stores its last record,
// as the bbolt store's successive writes do.
func TestPut_PathTwice(t *testing.T) {
	db, err := Open(testDSN(t), &Options{Dims: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := db.Put([]store.Record{
		{Item: store.Item{Path: "/a", Size: 1}, Vector: []float32{1, 0}},
		{Item: store.Item{Path: "/a", Size: 2}, Vector: []float32{0, 1}},
	})
	if err != nil || ids[0] != ids[1] {
		t.Fatalf("Put = %v, %v; want one id twice", ids, err)
	}
	it, _, _ := db.Item(ids[0])
	v, _ := db.Vector(ids[0])
	if it.Size != 2 || !slices.Equal(v, []float32{0, 1}) {
		t.Fatalf("stored %+v %v; want the second record", it, v)
	}
	// A path that is not UTF-8 is a file name all the same.
	odd := "/photos/caf\xe9.jpg"
	if _, err := db.Put([]store.Record{{Item: store.Item{Path: odd}, Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	if it, ok, err := db.ItemByPath(odd); !ok || err != nil || it.Path != odd {
		t.Fatalf("ItemByPath of a non-UTF-8 path = %q, %t, %v", it.Path, ok, err)
	}
}

// clustered returns n unit vectors of dims around 50 centres, as photo
// embeddings cluster, and q queries near stored ones.
func clustered(n, q, dims int) (vecs, queries [][]float32) {
	r := rand.New(rand.NewPCG(1, 2))
	centres := make([][]float32, 50)
	for i := range centres {
		centres[i] = make([]float32, dims)
		for j := range centres[i] {
			centres[i][j] = float32(r.NormFloat64())
		}
	}
	near := func(c []float32, spread float64) []float32 {
		v := make([]float32, dims)
		for j := range v {
			v[j] = c[j] + float32(spread*r.NormFloat64())
		}
		index.Normalize(v)
		return v
	}
	for range n {
		vecs = append(vecs, near(centres[r.IntN(len(centres))], 0.6))
	}
	for range q {
		queries = append(queries, near(vecs[r.IntN(n)], 0.2))
	}
	return vecs, queries
}

// exactTop is the ids of the k stored vectors nearest to q.
func exactTop(vecs [][]float32, q []float32, k int) []uint64 {
	type hit struct {
		id    uint64
		score float32
	}
	hits := make([]hit, len(vecs))
	for i, v := range vecs {
		var s float32
		for j := range v {
			s += v[j] * q[j]
		}
		hits[i] = hit{uint64(i + 1), s}
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	out := make([]uint64, k)
	for i := range out {
		out[i] = hits[i].id
	}
	return out
}

func recall(got, want []uint64) float64 {
	n := 0
	for _, id := range got {
		if slices.Contains(want, id) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// BenchmarkPostgres measures, on n clustered 512-d vectors (n from
// SIMSEARCH_BENCH_N, 5,000 by default): Put's rows/s into a table
// without the HNSW index (COPY and upsert) and with it (1,000 rows put
// again, the index kept up on each), the HNSW index built over the loaded
// rows at once, and the query p50 and recall@10 of pgvector's HNSW at
// ef_search 40 and 64 (the index on halfvec copies that schema 3 makes,
// "pg", and schema 2's on the vectors, "pg-vector", with both sizes) and
// of the engine's index.HNSW (the same m, its ef 64) over the same
// vectors. One iteration is the whole run;
// -benchtime=1x.
func BenchmarkPostgres(b *testing.B) {
	n := 5000
	if s := os.Getenv("SIMSEARCH_BENCH_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	const dims, k, nq = 512, 10, 200
	vecs, queries := clustered(n, nq, dims)
	truth := make([][]uint64, nq)
	for i, q := range queries {
		truth[i] = exactTop(vecs, q, k)
	}
	for b.Loop() {
		db, err := Open(testDSN(b), &Options{Dims: dims})
		if err != nil {
			b.Fatal(err)
		}
		put := func(from, to int) {
			for i := from; i < to; i += 1000 {
				var recs []store.Record
				for j := i; j < min(i+1000, to); j++ {
					recs = append(recs, store.Record{Item: store.Item{Path: fmt.Sprintf("/p/%07d.jpg", j)}, Vector: vecs[j]})
				}
				if _, err := db.Put(recs); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := db.pool.Exec(ctx, "DROP INDEX simsearch."+hnswIndexName); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		put(0, n)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "put-rows/s")
		start = time.Now()
		if _, err := db.pool.Exec(ctx, hnswIndexSQL(dims)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "pg-hnsw-build-s")
		start = time.Now()
		put(0, min(n, 1000))
		b.ReportMetric(float64(min(n, 1000))/time.Since(start).Seconds(), "put-indexed-rows/s")

		conn, err := db.pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		var rec float64
		// search measures pgvector's HNSW at ef 40 and 64 with the query
		// sql (ORDER BY its distance to $1, LIMIT $2), under metric names
		// beginning with kind.
		search := func(kind, sql string) {
			// Right after CREATE INDEX the planner may scan the table
			// instead (exact, and a hundred times slower); both kinds
			// must be measured through their index.
			if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
				b.Fatal(err)
			}
			for _, ef := range []int{40, 64} {
				if _, err := conn.Exec(ctx, fmt.Sprintf("SET hnsw.ef_search = %d", ef)); err != nil {
					b.Fatal(err)
				}
				lat, rec = lat[:0], 0
				for i, q := range queries {
					t0 := time.Now()
					args := []any{q, k}
					if strings.Count(sql, "$3") > 0 {
						args = append(args, ef) // candidates
					}
					rows, err := conn.Query(ctx, sql, args...)
					if err != nil {
						b.Fatal(err)
					}
					ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
					got := make([]uint64, len(ids))
					for j, id := range ids {
						got[j] = uint64(id)
					}
					rec += recall(got, truth[i])
				}
				b.ReportMetric(p50(lat).Seconds()*1e3, fmt.Sprintf("%s-ef%d-p50-ms", kind, ef))
				b.ReportMetric(rec/nq, fmt.Sprintf("%s-ef%d-recall@10", kind, ef))
			}
		}
		indexMiB := func(name string) float64 {
			var size int64
			if err := conn.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", "simsearch."+name).Scan(&size); err != nil {
				b.Fatal(err)
			}
			return float64(size) / (1 << 20)
		}
		// The index (on half-precision copies) as Search orders by it.
		search("pg", "SELECT id FROM ("+searchSQL(dims)+") s")
		b.ReportMetric(indexMiB(hnswIndexName), "pg-hnsw-MiB")

		// The same index on the vectors themselves, which schema 2 had:
		// twice the size, for the recall halfvec might cost.
		if _, err := conn.Exec(ctx, "DROP INDEX simsearch."+hnswIndexName); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := conn.Exec(ctx, `CREATE INDEX items_v_hnsw ON simsearch.items
			USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)`); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "pg-vector-hnsw-build-s")
		b.ReportMetric(indexMiB("items_v_hnsw"), "pg-vector-hnsw-MiB")
		search("pg-vector", "SELECT id FROM simsearch.items ORDER BY v <=> $1::real[]::vector LIMIT $2")
		if _, err := conn.Exec(ctx, "DROP INDEX simsearch.items_v_hnsw"); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, hnswIndexSQL(dims)); err != nil {
			b.Fatal(err)
		}
		conn.Release()

		h := index.NewHNSW(dims, &index.HNSWOptions{M: 16})
		start = time.Now()
		for i, v := range vecs {
			if err := h.Add(uint64(i+1), v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "our-hnsw-build-s")
		lat, rec = lat[:0], 0
		for i, q := range queries {
			t0 := time.Now()
			hits, err := h.Search(q, k, 64)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			got := make([]uint64, len(hits))
			for j, hit := range hits {
				got[j] = hit.ID
			}
			rec += recall(got, truth[i])
		}
		b.ReportMetric(p50(lat).Seconds()*1e3, "our-p50-ms")
		b.ReportMetric(rec/nq, "our-recall@10")
		db.Close()
	}
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

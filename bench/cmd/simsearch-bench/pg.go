package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/pgstore"
	"github.com/simsearch/simsearch/internal/store"
)

// pgEnv names the PostgreSQL server of the pg row: a superuser's DSN on
// a server with pgvector, as scripts/postgres.sh sets it (make bench runs
// the harness through it). Without it the row says so and skips.
const pgEnv = "SIMSEARCH_TEST_PG"

// pgEfs are the hnsw.ef_search breadths the pg row queries at: pgvector's
// default and the engine's default breadth.
var pgEfs = []int{40, index.DefaultEfSearch}

// pgSizes are the pg row's sizes: vectors, queries, photos for the
// workers.
type pgSizes struct {
	N, Queries, Photos int
	Photo              photoSize
}

func pgSizesFor(quick bool) pgSizes {
	if quick {
		return pgSizes{N: 2000, Queries: 50, Photos: 6, Photo: photoSize{"small", 320, 240}}
	}
	return pgSizes{N: 20_000, Queries: 500, Photos: 48, Photo: photoSize{"2MP", 1920, 1080}}
}

type pgSearchFigure struct {
	Ef     int     `json:"ef"`
	P50MS  float64 `json:"p50_ms"`
	Recall float64 `json:"recall_at_10"`
	// Agree is the share of the embedded HNSW's top 10 that this search
	// also returns.
	Agree float64 `json:"agreement_with_embedded"`
}

type pgWorkersFigure struct {
	Workers  int      `json:"workers"`
	WallS    float64  `json:"wall_s"`
	ImagesPS float64  `json:"images_per_s"`
	Stored   int      `json:"stored"`
	Summary  []string `json:"summary_lines"` // each run's last line
}

type pgRaw struct {
	Skipped string `json:"skipped,omitempty"`
	Server  string `json:"server,omitempty"`
	N       int    `json:"n"`
	Queries int    `json:"queries"`
	Dims    int    `json:"dims"`
	Planted int    `json:"planted_pairs"`

	PutRowsPS       float64 `json:"put_rows_per_s"`         // COPY and upsert, no index
	PutIndexedPS    float64 `json:"put_indexed_rows_per_s"` // 1,000 rows again, the index kept up
	BuildS          float64 `json:"hnsw_build_s"`           // halfvec, the schema's index
	IndexBytes      int64   `json:"hnsw_bytes"`
	VectorBuildS    float64 `json:"vector_hnsw_build_s"` // schema 2's index on the vectors
	VectorIndexByte int64   `json:"vector_hnsw_bytes"`

	PG           []pgSearchFigure `json:"pg"`
	OurBuildS    float64          `json:"embedded_build_s"`
	OurEf        int              `json:"embedded_tuned_ef"`
	OurP50MS     float64          `json:"embedded_p50_ms"`
	OurRecall    float64          `json:"embedded_recall_at_10"`
	DedupPGS     float64          `json:"dedup_pairs_pg_s"`
	DedupOurS    float64          `json:"dedup_pairs_embedded_s"`
	DedupPGFound int              `json:"dedup_planted_found_pg"`
	DedupOurFnd  int              `json:"dedup_planted_found_embedded"`

	Photos  int               `json:"photos"`
	Photo   photoSize         `json:"photo"`
	Workers []pgWorkersFigure `json:"workers"`
}

func pgRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "PostgreSQL + pgvector"}
	raw := &pgRaw{Dims: indexDims}
	s.Raw = raw
	admin := os.Getenv(pgEnv)
	if admin == "" {
		raw.Skipped = "no PostgreSQL server: " + pgEnv + " is not set (make bench runs this harness through scripts/postgres.sh, which starts one)"
		if why := os.Getenv("SIMSEARCH_TEST_PG_SKIP"); why != "" {
			raw.Skipped = "no PostgreSQL server: " + why
		}
		s.Notes = append(s.Notes, "skipped: "+raw.Skipped)
		b.logf("pg: %s", raw.Skipped)
		return s, nil
	}
	raw.Server = pgstore.Redact(admin)
	sz := pgSizesFor(b.cfg.quick)
	raw.N, raw.Queries, raw.Photos, raw.Photo = sz.N, sz.Queries, sz.Photos, sz.Photo
	if err := pgVectors(ctx, b, admin, sz, raw); err != nil {
		return s, err
	}
	if err := pgWorkers(ctx, b, admin, sz, raw); err != nil {
		return s, err
	}
	pgTables(&s, raw)
	return s, nil
}

// pgDatabase creates a database for one measurement and returns its DSN
// and a function that drops it.
func pgDatabase(ctx context.Context, admin, name string) (string, func(), error) {
	name = fmt.Sprintf("simsearch_bench_%s_%d", name, os.Getpid())
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() { _ = exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }
	return u.String(), drop, nil
}

// pgClustered returns n unit vectors around 200 centres as the store
// row's (bigDB): noise as long as the centre, every tenth a near copy
// of the one before (cosine 0.88..0.99); and q queries near stored ones.
func pgClustered(n, q int) (vecs, queries [][]float32, planted int) {
	rng := rand.New(rand.NewPCG(7, 19))
	cl := newClusters(rng)
	for i := range n {
		vecs = append(vecs, cl.next(i))
		if isCopy(i) {
			planted++
		}
	}
	for range q {
		src := vecs[rng.IntN(n)]
		v := make([]float32, indexDims)
		for j := range v {
			v[j] = src[j] + float32(rng.NormFloat64()*cl.sigma*0.5)
		}
		index.Normalize(v)
		queries = append(queries, v)
	}
	return vecs, queries, planted
}

// pgExactTop is the ids (1-based, as stored) of the 10 vectors nearest q.
func pgExactTop(vecs [][]float32, q []float32) []uint64 {
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
	out := make([]uint64, 10)
	for i := range out {
		out[i] = hits[i].id
	}
	return out
}

func overlap(got []index.Hit, want []uint64) float64 {
	n := 0
	for _, h := range got {
		if slices.Contains(want, h.ID) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func hitIDs(hs []index.Hit) []uint64 {
	out := make([]uint64, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

// pgVectors measures the store on the server against the embedded HNSW
// on the same clustered vectors.
func pgVectors(ctx context.Context, b *bench, admin string, sz pgSizes, raw *pgRaw) error {
	vecs, queries, planted := pgClustered(sz.N, sz.Queries)
	raw.Planted = planted
	truth := make([][]uint64, len(queries))
	for i, q := range queries {
		truth[i] = pgExactTop(vecs, q)
	}
	dsn, drop, err := pgDatabase(ctx, admin, "vectors")
	if err != nil {
		return err
	}
	defer drop()
	db, err := pgstore.Open(dsn, &pgstore.Options{Dims: indexDims})
	if err != nil {
		return err
	}
	defer db.Close()
	put := func(n int) (float64, error) {
		t := time.Now()
		for i := 0; i < n; i += putBatch {
			var recs []store.Record
			for j := i; j < min(i+putBatch, n); j++ {
				recs = append(recs, store.Record{Item: store.Item{Path: itemPath(j), Size: 1, Width: 4000, Height: 3000, Format: "jpeg", State: store.StateIndexed}, Vector: vecs[j]})
			}
			if _, err := db.Put(recs); err != nil {
				return 0, err
			}
		}
		return float64(n) / time.Since(t).Seconds(), nil
	}
	b.logf("pg: putting %d vectors without the HNSW index, then building it", sz.N)
	if err := db.DropIndex(); err != nil {
		return err
	}
	if raw.PutRowsPS, err = put(sz.N); err != nil {
		return err
	}
	t := time.Now()
	if err := db.BuildIndex(); err != nil {
		return err
	}
	raw.BuildS = time.Since(t).Seconds()
	if raw.IndexBytes, err = db.IndexBytes(); err != nil {
		return err
	}
	if raw.PutIndexedPS, err = put(min(sz.N, putBatch)); err != nil {
		return err
	}

	// The embedded HNSW as the engine builds and tunes it.
	b.logf("pg: the embedded HNSW on the same vectors")
	h := index.NewHNSW(indexDims, nil)
	ids := make([]uint64, len(vecs))
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	t = time.Now()
	if err := h.AddBatch(ids, vecs); err != nil {
		return err
	}
	h.Tune(1)
	raw.OurBuildS = time.Since(t).Seconds()
	raw.OurEf = h.Tuning().Ef
	ours := make([][]uint64, len(queries))
	var lat []float64
	for i, q := range queries {
		t := time.Now()
		hs, err := h.Search(q, 10, 0)
		if err != nil {
			return err
		}
		lat = append(lat, msSince(t))
		ours[i] = hitIDs(hs)
		raw.OurRecall += overlap(hs, truth[i])
	}
	raw.OurP50MS, raw.OurRecall = median(lat), raw.OurRecall/float64(len(queries))

	for _, ef := range pgEfs {
		f := pgSearchFigure{Ef: ef}
		lat = lat[:0]
		for i, q := range queries {
			t := time.Now()
			hs, err := db.Search(ctx, q, 10, ef)
			if err != nil {
				return err
			}
			lat = append(lat, msSince(t))
			f.Recall += overlap(hs, truth[i])
			f.Agree += overlap(hs, ours[i])
		}
		f.P50MS, f.Recall, f.Agree = median(lat), f.Recall/float64(len(queries)), f.Agree/float64(len(queries))
		raw.PG = append(raw.PG, f)
	}

	// Dedup's candidate pairs, on the server and in this process.
	threshold := float32(0.72) // vgg16-random's
	count := func(near dedup.Neighbourer) (float64, int, error) {
		t := time.Now()
		found := map[int]bool{} // planted copies found, by item
		err := near.Neighbours(ctx, ids, 17, simsearch.MaxDedupEf, threshold, func(id uint64, hs []index.Hit) error {
			for _, h := range hs {
				lo, hi := min(id, h.ID)-1, max(id, h.ID)-1
				if hi == lo+1 && isCopy(int(hi)) {
					found[int(hi)] = true
				}
			}
			return nil
		})
		return time.Since(t).Seconds(), len(found), err
	}
	b.logf("pg: dedup's pairs of %d items on the server", sz.N)
	if raw.DedupPGS, raw.DedupPGFound, err = count(db); err != nil {
		return err
	}
	b.logf("pg: dedup's pairs of %d items in the embedded HNSW", sz.N)
	if raw.DedupOurS, raw.DedupOurFnd, err = count(dedup.IndexNeighbours(vecSource(vecs), h, 0)); err != nil {
		return err
	}

	// Schema 2's index on the vectors themselves, for its size.
	b.logf("pg: schema 2's HNSW index on the vectors, for its size")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	t = time.Now()
	if _, err := conn.Exec(ctx, `CREATE INDEX items_v_hnsw ON simsearch.items USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)`); err != nil {
		return err
	}
	raw.VectorBuildS = time.Since(t).Seconds()
	if err := conn.QueryRow(ctx, "SELECT pg_relation_size('simsearch.items_v_hnsw')").Scan(&raw.VectorIndexByte); err != nil {
		return err
	}
	return nil
}

// vecSource is the 1-based stored vectors of pgVectors.
type vecSource [][]float32

func (v vecSource) Vector(id uint64) ([]float32, error) {
	if id == 0 || id > uint64(len(v)) {
		return nil, fmt.Errorf("no vector %d", id)
	}
	return v[id-1], nil
}

// pgWorkers indexes one tree of generated photos into a fresh database
// with one `simsearch index` and with two at once, each on one thread.
func pgWorkers(ctx context.Context, b *bench, admin string, sz pgSizes, raw *pgRaw) error {
	_, dir, err := b.model(ctx)
	if err != nil {
		return err
	}
	paths, err := photoDir(b.workDir(), sz.Photo, sz.Photos, 20_000)
	if err != nil {
		return err
	}
	// Only these files: a cached directory may hold more from another run.
	tree := filepath.Join(b.tmp, "pg-photos")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p) // the work directory may be relative
		if err != nil {
			return err
		}
		if err := os.Symlink(abs, filepath.Join(tree, filepath.Base(p))); err != nil && !os.IsExist(err) {
			return err
		}
	}
	bin, err := filepath.Abs(b.cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make first, or pass -bin)", err)
	}
	// Once into a file first, untimed: the first index run with a model
	// prepares what it lacks (the int8 model, 30 s or more), and the
	// photos come into the page cache.
	b.logf("pg: a first, untimed simsearch index of the photos into a database file")
	if _, err := runTimed(ctx, bin, "--db", filepath.Join(b.tmp, "pg-warm.db"), "--models-dir", dir, "--threads", "1", "index", tree); err != nil {
		return err
	}
	for _, workers := range []int{1, 2} {
		dsn, drop, err := pgDatabase(ctx, admin, fmt.Sprintf("workers%d", workers))
		if err != nil {
			return err
		}
		b.logf("pg: %d simsearch index run(s) of 1 thread on %d photos", workers, sz.Photos)
		args := []string{"--db", dsn, "--models-dir", dir, "--threads", "1", "index", tree}
		// The first run creates the tables; a second one started with it
		// would wait on the migration lock and claim its share after.
		t := time.Now()
		errs := make([]error, workers)
		lines := make([]string, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r, err := runTimed(ctx, bin, args...)
				errs[w], lines[w] = err, lastLine(r.stderr)
			})
		}
		wg.Wait()
		wall := time.Since(t).Seconds()
		stored := 0
		if err := firstErr(errs); err == nil {
			stored, err = pgStored(dsn)
			errs = append(errs, err)
		}
		drop()
		if err := firstErr(errs); err != nil {
			return err
		}
		if stored != sz.Photos {
			return fmt.Errorf("%d workers stored %d items for %d photos (%q)", workers, stored, sz.Photos, lines)
		}
		raw.Workers = append(raw.Workers, pgWorkersFigure{Workers: workers, WallS: wall, ImagesPS: float64(sz.Photos) / wall, Stored: stored, Summary: lines})
	}
	return nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pgStored counts the items stored in dsn's database.
func pgStored(dsn string) (int, error) {
	db, err := pgstore.Open(dsn, &pgstore.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.Len()
}

func pgTables(s *Section, raw *pgRaw) {
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("%s clustered %d-d vectors (200 centres, every tenth a near copy, as the store row's) in a fresh database on %s; Put copies (COPY) batches of %d rows and upserts them.", num(float64(raw.N)), raw.Dims, raw.Server, putBatch),
		Header:  []string{"", "figure"},
		Rows: [][]string{
			{"Put without the HNSW index", rate(raw.PutRowsPS) + " rows/s"},
			{"HNSW index built over them (halfvec, m 16, ef_construction 64)", seconds(raw.BuildS)},
			{"Put with the index kept up (1,000 rows again)", rate(raw.PutIndexedPS) + " rows/s"},
			{"index size: halfvec (schema 3) / vector (schema 2)", fmt.Sprintf("%s / %s (%.2f×)", mib(float64(raw.IndexBytes)), mib(float64(raw.VectorIndexByte)), float64(raw.IndexBytes)/math.Max(1, float64(raw.VectorIndexByte)))},
			{"vector index build, for comparison", seconds(raw.VectorBuildS)},
		},
	})
	t := Table{
		Caption: fmt.Sprintf("Queries: %s queries near stored vectors, top 10; recall against the exact top 10; agreement: the share of the embedded HNSW's top 10 the server's search returns. The embedded HNSW is the engine's (m 16, ef_construction 200, tuned), built in %s.", num(float64(raw.Queries)), seconds(raw.OurBuildS)),
		Header:  []string{"search", "ef", "p50", "recall@10", "agreement"},
	}
	t.Rows = append(t.Rows, []string{"embedded HNSW", fmt.Sprint(raw.OurEf), ms(raw.OurP50MS), fmt.Sprintf("%.3f", raw.OurRecall), ""})
	for _, f := range raw.PG {
		t.Rows = append(t.Rows, []string{"pgvector HNSW (Search)", fmt.Sprint(f.Ef), ms(f.P50MS), fmt.Sprintf("%.3f", f.Recall), fmt.Sprintf("%.3f", f.Agree)})
	}
	s.Tables = append(s.Tables, t)
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("Dedup's candidate pairs: the 16 nearest of every item at ef %d scoring at least 0.72, on the server (4 connections) and in this process; planted near copies found of %s.", simsearch.MaxDedupEf, num(float64(raw.Planted))),
		Header:  []string{"where", "time", "planted found"},
		Rows: [][]string{
			{"server (pgstore.Neighbours)", seconds(raw.DedupPGS), num(float64(raw.DedupPGFound))},
			{"embedded HNSW (dedup.IndexNeighbours)", seconds(raw.DedupOurS), num(float64(raw.DedupOurFnd))},
		},
	})
	w := Table{
		Caption: fmt.Sprintf("`simsearch --threads 1 index TREE` on %d generated photos of %d×%d into a fresh database: one run, then two at once sharing the work queue.", raw.Photos, raw.Photo.W, raw.Photo.H),
		Header:  []string{"workers", "wall", "images/s", "stored", "summary lines"},
	}
	for _, f := range raw.Workers {
		w.Rows = append(w.Rows, []string{fmt.Sprint(f.Workers), seconds(f.WallS), rate(f.ImagesPS), fmt.Sprint(f.Stored), strings.Join(f.Summary, "; ")})
	}
	s.Tables = append(s.Tables, w)
}

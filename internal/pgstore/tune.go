package pgstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/index"
)

// Bounds of Tune.
const (
	// tuneQueries is the sample of stored items Tune measures recall on,
	// as index.TuneQueries.
	tuneQueries = index.TuneQueries
	// tuneK is the recall@10's 10.
	tuneK = 10
	// tuneMargin is how far above the target Tune aims: twice the
	// embedded index's tuner's 0.015 (the sampling error of 200
	// queries), because the sample's items are in the graph, where a
	// search for one lands on it and reaches its neighbours by its own
	// links, which overstates recall for fresh queries (not stored) more
	// the narrower the search: on 4,000 loosely clustered 256-d vectors
	// (TestTune), 0.918 on the sample against 0.515 fresh at ef 16,
	// 0.945 against 0.842 at 64, 0.966 against 0.929 at 100. pgvector
	// gives no way to leave a node out of a search, as the embedded
	// tuner does.
	tuneMargin = 0.03
	// retuneGrowth: NeedsTuning once the item count has changed by more
	// than this factor since the last tuning.
	retuneGrowth = 2
)

// tuneLadder are the hnsw.ef_search values Tune tries, narrowest first;
// the narrowest that reaches the target is chosen. A search for k
// items searches at least k wide (Search), so the ladder starts above
// the 11 a sample query asks for (itself and its 10 nearest).
var tuneLadder = []int{16, 24, 40, 64, 100, 160, 240, 400, 1000}

// Tuning returns the search breadth Tune recorded and what it measured;
// Size 0 means the database was never tuned, and Ef is then the
// server's default hnsw.ef_search (40).
func (db *DB) Tuning(ctx context.Context) (index.Tuning, error) {
	var t index.Tuning
	err := db.pool.QueryRow(ctx, "SELECT tuned_ef, tuned_recall, tuned_size, tuned_target FROM simsearch.meta").
		Scan(&t.Ef, &t.Recall, &t.Size, &t.Target)
	if err != nil {
		return index.Tuning{}, fmt.Errorf("read the search tuning: %w", err)
	}
	if t.Size == 0 {
		t.Ef = defaultEfSearch
	}
	return t, nil
}

// NeedsTuning reports whether Tune would measure something new: items
// are stored and the database was never tuned, was tuned for another
// target, or its item count has changed by more than twice (either way)
// since.
func (db *DB) NeedsTuning(ctx context.Context, target float64) (bool, error) {
	t, err := db.Tuning(ctx)
	if err != nil {
		return false, err
	}
	n, err := db.Len()
	if err != nil {
		return false, err
	}
	return n > 0 && (t.Size == 0 || t.Target != target || n > retuneGrowth*t.Size || retuneGrowth*n < t.Size), nil
}

// Tune chooses the hnsw.ef_search at which the server's HNSW index
// reaches recall@10 target, records it in the meta table with the item
// count and the recall measured (Tuning), and returns it. It samples up
// to 200 stored items (the same ones for the same ids: ordered by a hash
// of the id), finds each one's exact 10 nearest other items by a scan of
// the vectors (their ORDER BY is on the vectors, which no index covers),
// then searches for each through the index as Search does (the
// candidates ranked again by the vectors) at each breadth of tuneLadder
// until the recall reaches target + 0.03 (tuneMargin says why). Each
// sample item is stored, so it comes back first from its own search; it
// is left out and the 10 after it are compared, as the embedded tuner
// leaves a hole. If even 1,000 (pgvector's most) misses,
// 1,000 is chosen with the recall it reached. The cost is the 200 scans
// of the table, on the server, 4 connections at once; a database without the index (more than
// 4,000 dimensions) gets the widest breadth, which then changes nothing.
func (db *DB) Tune(ctx context.Context, target float64) (index.Tuning, error) {
	if db.readOnly {
		return index.Tuning{}, fmt.Errorf("tune the search breadth: the database is open read-only")
	}
	var dims, n int
	if err := db.pool.QueryRow(ctx, "SELECT dims, (SELECT count(*) FROM simsearch.items) FROM simsearch.meta").Scan(&dims, &n); err != nil {
		return index.Tuning{}, fmt.Errorf("tune the search breadth: read meta: %w", err)
	}
	if n == 0 {
		return db.Tuning(ctx)
	}
	sample, truth, err := db.tuneTruth(ctx)
	if err != nil {
		return index.Tuning{}, fmt.Errorf("tune the search breadth: exact neighbours: %w", err)
	}
	aim := min(target+tuneMargin, 1)
	t := index.Tuning{Size: n, Target: target}
	for _, ef := range tuneLadder {
		r, err := db.sampleRecall(ctx, dims, sample, truth, ef)
		if err != nil {
			return index.Tuning{}, fmt.Errorf("tune the search breadth: search at ef %d: %w", ef, err)
		}
		t.Ef, t.Recall = ef, r
		if r >= aim {
			break
		}
	}
	_, err = db.pool.Exec(ctx, "UPDATE simsearch.meta SET tuned_ef = $1, tuned_recall = $2, tuned_size = $3, tuned_target = $4",
		t.Ef, t.Recall, t.Size, t.Target)
	if err != nil {
		return index.Tuning{}, fmt.Errorf("tune the search breadth: record it: %w", err)
	}
	return t, nil
}

// tuneTruthSQL: for each item of $1, the ids of its 10 nearest other
// items by the vectors' exact distance. The inner ORDER BY is on the
// vectors, not on the half-precision copies the HNSW index holds, so
// the planner scans the table for each item (EXPLAIN: a sequential scan
// under the lateral join; TestTune_TruthScans checks it).
const tuneTruthSQL = `SELECT a.id, n.id FROM simsearch.items a CROSS JOIN LATERAL (
		SELECT b.id FROM simsearch.items b WHERE b.id <> a.id ORDER BY b.v <=> a.v, b.id LIMIT 10
	) n WHERE a.id = ANY($1)`

// tuneTruth draws the sample and returns it with each item's exact 10
// nearest other items.
func (db *DB) tuneTruth(ctx context.Context) ([]int64, map[int64][]int64, error) {
	rows, err := db.pool.Query(ctx, "SELECT id FROM simsearch.items ORDER BY hashint8(id), id LIMIT $1", tuneQueries)
	if err != nil {
		return nil, nil, err
	}
	sample, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, nil, err
	}
	// The scans are most of Tune's cost: they go to knnConns
	// connections at once, a part of the sample each.
	parts := make([]map[int64][]int64, knnConns)
	errs := make([]error, knnConns)
	var wg sync.WaitGroup
	per := (len(sample) + knnConns - 1) / knnConns
	for i := range knnConns {
		part := sample[min(i*per, len(sample)):min((i+1)*per, len(sample))]
		wg.Go(func() { parts[i], errs[i] = db.neighbourIDs(ctx, nil, tuneTruthSQL, part) })
	}
	wg.Wait()
	truth := make(map[int64][]int64, len(sample))
	for i, p := range parts {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		maps.Copy(truth, p)
	}
	return sample, truth, nil
}

// tuneSearchSQL is searchSQL for each stored item of $1: the $3 nearest
// among the $2 candidates the HNSW index finds, by the vectors.
func tuneSearchSQL(dims int) string {
	return `SELECT a.id, n.id FROM simsearch.items a CROSS JOIN LATERAL (
			SELECT c.id FROM (
				SELECT b.id, b.v FROM simsearch.items b ORDER BY ` + hnswOrder("b.v", "a.v", dims) + ` LIMIT $2
			) c ORDER BY c.v <=> a.v, c.id LIMIT $3
		) n WHERE a.id = ANY($1)`
}

// sampleRecall is the recall@10 over the sample of a search at ef as
// Search runs it for 11 items: found true neighbours over all of them,
// each item's own id left out of its results.
func (db *DB) sampleRecall(ctx context.Context, dims int, sample []int64, truth map[int64][]int64, ef int) (float64, error) {
	const k = tuneK + 1
	ef, candidates := breadth(k, ef)
	found, err := db.neighbourIDs(ctx, func(tx pgx.Tx) error { return knnSettings(tx, ef) },
		tuneSearchSQL(dims), sample, candidates, k)
	if err != nil {
		return 0, err
	}
	hit, total := 0, 0
	for _, id := range sample {
		want := truth[id]
		total += len(want)
		got := slices.DeleteFunc(found[id], func(n int64) bool { return n == id })
		for _, n := range got[:min(len(got), tuneK)] {
			if slices.Contains(want, n) {
				hit++
			}
		}
	}
	if total == 0 {
		return 1, nil
	}
	return float64(hit) / float64(total), nil
}

// neighbourIDs runs sql, whose rows are (item, neighbour) pairs, in a
// transaction that set (when not nil) prepares, with the sample as $1 and
// args after it.
func (db *DB) neighbourIDs(ctx context.Context, set func(pgx.Tx) error, sql string, sample []int64, args ...any) (map[int64][]int64, error) {
	out := make(map[int64][]int64, len(sample))
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if set != nil {
			if err := set(tx); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, sql, append([]any{sample}, args...)...)
		if err != nil {
			return err
		}
		var a, b int64
		_, err = pgx.ForEachRow(rows, []any{&a, &b}, func() error {
			out[a] = append(out[a], b)
			return nil
		})
		return err
	})
	return out, err
}

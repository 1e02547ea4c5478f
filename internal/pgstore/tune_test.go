package pgstore

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/index"
)

// looselyClustered returns n unit vectors of dims around 100 unit
// centres at a cosine of about 0.55 to theirs (0.3 to each other): the
// nearest neighbours are hard to tell apart, so a
// narrow HNSW search misses some.
func looselyClustered(n, dims int) [][]float32 {
	r := rand.New(rand.NewPCG(19, 19))
	centres := make([][]float32, 100)
	for c := range centres {
		centres[c] = make([]float32, dims)
		for j := range centres[c] {
			centres[c][j] = float32(r.NormFloat64())
		}
		index.Normalize(centres[c])
	}
	sigma := 3 / math.Sqrt(float64(dims))
	vecs := make([][]float32, n)
	for i := range vecs {
		c := centres[r.IntN(len(centres))]
		vecs[i] = make([]float32, dims)
		for j := range vecs[i] {
			vecs[i][j] = c[j] + float32(r.NormFloat64()*sigma)
		}
		index.Normalize(vecs[i])
	}
	return vecs
}

// TestTune: on a few thousand clustered vectors Tune records the
// narrowest breadth of its ladder whose recall@10 on the sample reaches
// the target (the one before it misses), fresh queries (not stored)
// searched at it reach the target but for the sampling error, a higher
// target gets no narrower a breadth and a lower one no wider, the exact
// neighbours come from a scan of the vectors (never the HNSW index), and
// it is due again only when the items have more than doubled.
func TestTune(t *testing.T) {
	const n, dims, target = 4000, 256, 0.95
	db, err := Open(testDSN(t), &Options{Dims: dims})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fresh queries are drawn as the stored vectors are, and not stored.
	vecs := looselyClustered(n+200, dims)
	vecs, queries := vecs[:n], vecs[n:]
	putClustered(t, db, vecs, 0)

	if tu, err := db.Tuning(ctx); err != nil || tu.Size != 0 || tu.Ef != defaultEfSearch {
		t.Fatalf("Tuning before Tune = %+v, %v; want none, ef %d", tu, err, defaultEfSearch)
	}
	if need, err := db.NeedsTuning(ctx, target); err != nil || !need {
		t.Fatalf("NeedsTuning before Tune = %v, %v", need, err)
	}
	tu, err := db.Tune(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if tu.Size != n || tu.Target != target || !slices.Contains(tuneLadder, tu.Ef) {
		t.Fatalf("Tune = %+v; want size %d, target %v, an ef of %v", tu, n, target, tuneLadder)
	}
	if got, err := db.Tuning(ctx); err != nil || got != tu {
		t.Fatalf("Tuning after Tune = %+v, %v; want what Tune returned, %+v", got, err, tu)
	}
	t.Logf("tuned: %+v", tu)

	// The narrowest: the ladder's steps before it miss the aim.
	sample, truth, err := db.tuneTruth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ef := range tuneLadder {
		r, err := db.sampleRecall(ctx, dims, sample, truth, ef)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sample recall@10 at ef %d: %.4f", ef, r)
		if ef < tu.Ef && r >= target+tuneMargin {
			t.Errorf("ef %d already reaches recall %.3f; Tune chose %d", ef, r, tu.Ef)
		}
	}
	if tu.Ef < maxEfSearch && tu.Recall < target+tuneMargin {
		t.Errorf("Tune chose ef %d below the widest with recall %.3f, under the aim", tu.Ef, tu.Recall)
	}

	// Fresh queries at the chosen breadth.
	var sum float64
	for _, q := range queries {
		hits, err := db.Search(ctx, q, 10, tu.Ef)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, h := range hits {
			got = append(got, h.ID)
		}
		sum += recall(got, exactTop(vecs, q, 10))
	}
	for _, ef := range tuneLadder[:6] { // for the record
		var at float64
		for _, q := range queries {
			hits, err := db.Search(ctx, q, 10, ef)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, h := range hits {
				got = append(got, h.ID)
			}
			at += recall(got, exactTop(vecs, q, 10))
		}
		t.Logf("fresh recall@10 at ef %d: %.4f", ef, at/float64(len(queries)))
	}
	if fresh := sum / float64(len(queries)); fresh < target-0.03 {
		t.Errorf("fresh queries at ef %d: recall@10 %.3f, want at least %.3f", tu.Ef, fresh, target-0.03)
	} else {
		t.Logf("fresh queries at ef %d: recall@10 %.3f", tu.Ef, fresh)
	}

	low, err := db.Tune(ctx, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	high, err := db.Tune(ctx, 0.995)
	if err != nil {
		t.Fatal(err)
	}
	if low.Ef > tu.Ef || high.Ef < tu.Ef {
		t.Errorf("tuned ef for targets 0.5, %v, 0.995: %d, %d, %d; want no narrower for a higher target", target, low.Ef, tu.Ef, high.Ef)
	}
	if low.Ef == high.Ef {
		t.Errorf("targets 0.5 and 0.995 both tune to ef %d: the data does not tell breadths apart", low.Ef)
	}

	// The exact neighbours scan the table.
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		plan := explain(t, tx, tuneTruthSQL, []int64{1, 2, 3})
		if strings.Contains(plan, hnswIndexName) || !strings.Contains(plan, "Seq Scan on items b") {
			t.Errorf("the exact neighbours do not scan the vectors:\n%s", plan)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Due again for its target only past twice the items.
	if _, err := db.Tune(ctx, target); err != nil {
		t.Fatal(err)
	}
	putClustered(t, db, vecs[:n/2], n)
	if need, err := db.NeedsTuning(ctx, target); err != nil || need {
		t.Fatalf("NeedsTuning at 1.5 times the items = %v, %v; want false", need, err)
	}
	if need, err := db.NeedsTuning(ctx, 0.9); err != nil || !need {
		t.Fatalf("NeedsTuning for another target = %v, %v; want true", need, err)
	}
	putClustered(t, db, vecs[:n/2+1], n+n/2)
	if need, err := db.NeedsTuning(ctx, target); err != nil || !need {
		t.Fatalf("NeedsTuning past twice the items = %v, %v; want true", need, err)
	}
}

package index

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Tuning is the search breadth Tune chose and what it measured.
type Tuning struct {
	// Ef is the chosen breadth, which Search uses when given ef ≤ 0.
	Ef int `json:"ef"`
	// Recall is the recall@10 measured at Ef on the sample: the share of
	// the exact ten nearest stored neighbours that HNSW search returned.
	Recall float64 `json:"recall"`
	// Size is the number of live vectors when it was measured; 0 means
	// the graph was never tuned (and Ef is EfSearch).
	Size int `json:"size"`
	// Target is the recall it was chosen for.
	Target float64 `json:"target"`
}

// Bounds of Tune.
const (
	// TuneQueries is the sample Tune measures recall on.
	TuneQueries = 200
	// MaxTunedEf caps the breadth Tune chooses: beyond it a search costs
	// as much as a good part of an exact scan.
	MaxTunedEf = 4096
	tuneK      = 10
	tuneMargin = 0.015
	// retuneGrowth: NeedsTuning once the graph holds this many times the
	// vectors it was tuned at.
	retuneGrowth = 2
)

// Tuning reports the last tuning; Size 0 means none.
func (h *HNSW) Tuning() Tuning {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.tuning
	if t.Size == 0 {
		t.Ef = h.efS
	}
	return t
}

// NeedsTuning reports whether Tune would measure something new: the graph
// holds vectors and was never tuned, has grown to twice the size it was
// tuned at, or was tuned for another target.
func (h *HNSW) NeedsTuning() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := len(h.slots)
	t := h.tuning
	return n > 0 && (t.Size == 0 || n >= retuneGrowth*t.Size || t.Target != h.target)
}

// Tune chooses the search breadth for TargetRecall at the graph's current
// size, and Search uses it from then on when given ef ≤ 0. It draws
// TuneQueries stored vectors (fewer if the graph is smaller) with seed,
// finds each one's exact ten nearest other stored vectors by a scan, and
// measures the recall@10 of HNSW search with the query's own node taken
// out of the graph for that search, as if it were a fresh query: first at
// EfSearch, which is kept if it reaches the target (Tune never lowers the
// breadth), else at doubling ef until it does, then bisecting between the
// last miss and the first hit to within 1/16. It aims 0.015 above the
// target, the sampling error of 200 queries, so that other queries reach
// the target too. The breadth is capped at MaxTunedEf; if even that misses
// the target, it is chosen with the recall it reached.
//
// The cost is the scan, TuneQueries×Len dot products spread over the
// cores, plus at most about a dozen rounds of TuneQueries searches: at
// 100k 512-d vectors, 6.0 s against an 89 s AddBatch, on 2 cores shared
// with other work (bench/results/2026-12-01-vm-index-autoef.md). The
// result depends only on the graph and seed. Inserts may run meanwhile;
// a Load or compaction that replaces the graph makes Tune keep the new
// graph's own breadth and only return what it measured.
func (h *HNSW) Tune(seed uint64) Tuning {
	sm := h.tuneSample(seed)
	if len(sm.queries) == 0 {
		return h.Tuning()
	}
	recall := func(ef int) float64 { return h.sampleRecall(&sm, ef) }
	// Aim a little above the target (tuneMargin): on 200 queries the
	// sample's recall is off by about 0.01. Each sample query's own node
	// is left out of its search, which makes the sample as hard as fresh
	// queries or a little harder: on 100k clustered 512-d vectors, recall
	// 0.8160 on the sample against 0.8286 fresh at ef 16 and 0.9905
	// against 0.9958 at ef 64 (with the node left in, 0.966 and 0.9995).
	target := min(sm.target+tuneMargin, 1)
	t := Tuning{Ef: sm.base, Recall: recall(sm.base), Size: sm.size, Target: sm.target}
	if t.Recall < target {
		miss := sm.base
		for t.Ef < MaxTunedEf {
			ef := min(2*t.Ef, MaxTunedEf)
			r := recall(ef)
			if r >= target {
				t.Ef, t.Recall = ef, r
				break
			}
			miss, t.Ef, t.Recall = ef, ef, r
		}
		// t.Ef is the first breadth that reached the target (or the cap);
		// narrow the interval (miss, t.Ef] down to 1/16 of t.Ef.
		for t.Recall >= target && t.Ef-miss > max(t.Ef/16, 1) {
			mid := miss + (t.Ef-miss)/2
			if r := recall(mid); r >= target {
				t.Ef, t.Recall = mid, r
			} else {
				miss = mid
			}
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch == sm.epoch {
		h.efS, h.tuning = t.Ef, t
	}
	return t
}

// tuneSet is Tune's sample and the graph state it was drawn from.
type tuneSet struct {
	queries [][]float32
	ids     []uint64   // the queries' own ids
	slots   []uint32   // and slots, which their searches leave out
	truth   [][]uint64 // the ids of each query's tuneK nearest others
	size    int        // live vectors
	epoch   uint64
	base    int // EfSearch option
	target  float64
}

// tuneSample draws the queries and computes their exact neighbours under
// the read lock: truth[i] holds the ids of the tuneK live vectors most
// similar to queries[i], itself (ids[i]) excluded.
func (h *HNSW) tuneSample(seed uint64) tuneSet {
	h.mu.RLock()
	defer h.mu.RUnlock()
	live := make([]uint32, 0, len(h.slots))
	for s := range h.ids {
		if !h.deleted[s] {
			live = append(live, uint32(s))
		}
	}
	nq := min(TuneQueries, len(live))
	rng := rand.New(rand.NewPCG(seed, 0x7e5e))
	sample := slices.Clone(live)
	for i := range nq { // partial Fisher–Yates
		j := i + rng.IntN(len(sample)-i)
		sample[i], sample[j] = sample[j], sample[i]
	}
	sample = sample[:nq]
	queries := make([][]float32, nq)
	ids := make([]uint64, nq)
	for i, s := range sample {
		queries[i] = slices.Clone(h.vec(s))
		ids[i] = h.ids[s]
	}

	truth := make([][]uint64, nq)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(nq, 1)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(nq); i = next.Add(1) - 1 {
				t := topK{k: tuneK}
				q, self := queries[i], sample[i]
				for _, s := range live {
					if s != self {
						t.offer(cand{sim: dot(q, h.vec(s)), slot: s})
					}
				}
				for _, c := range t.sorted() {
					truth[i] = append(truth[i], h.ids[c.slot])
				}
			}
		})
	}
	wg.Wait()
	return tuneSet{queries: queries, ids: ids, slots: sample, truth: truth, size: len(live), epoch: h.epoch, base: h.efBase, target: h.target}
}

// sampleRecall is the recall@10 of Search at ef over the sample: found
// true neighbours over all true neighbours. Each query's own node is left
// out of its search (see search), not only out of its results: a search
// that may pass through it reaches its neighbours by its own links, which
// overstated recall (at 1M, 0.966 on the sample against 0.928 on fresh
// queries at ef 160, bench/results/2026-12-01-vm-index-1m.md).
func (h *HNSW) sampleRecall(sm *tuneSet, ef int) float64 {
	queries, ids, truth := sm.queries, sm.ids, sm.truth
	var found, total atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(queries)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(queries)); i = next.Add(1) - 1 {
				hits, err := h.search(queries[i], tuneK+1, ef, sm.slots[i], sm.epoch)
				if err != nil {
					continue // cannot happen: the sample has the graph's dimension
				}
				n := 0
				for _, hit := range hits {
					if hit.ID != ids[i] && n < tuneK {
						n++
						if slices.Contains(truth[i], hit.ID) {
							found.Add(1)
						}
					}
				}
				total.Add(int64(len(truth[i])))
			}
		})
	}
	wg.Wait()
	if total.Load() == 0 {
		return 1
	}
	return float64(found.Load()) / float64(total.Load())
}

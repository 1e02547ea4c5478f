package evaluate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRankMetrics_HandRankings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ranked   []bool
		relevant int
		ks       []int
		ap       float64
		hits     []int
	}{
		// Relevant at ranks 1 and 3: AP = (1/1 + 2/3) / 2.
		{"first and third", []bool{true, false, true, false, false}, 2, []int{1, 3, 10}, (1 + 2.0/3) / 2, []int{1, 2, 2}},
		// The one relevant result last of three: AP = 1/3.
		{"last", []bool{false, false, true}, 1, []int{1, 2, 3}, 1.0 / 3, []int{0, 0, 1}},
		// Ranks 2, 3 and 5: AP = (1/2 + 2/3 + 3/5) / 3.
		{"second third fifth", []bool{false, true, true, false, true, false}, 3, []int{1, 5}, (0.5 + 2.0/3 + 0.6) / 3, []int{0, 3}},
		{"all relevant", []bool{true, true}, 2, []int{1, 5}, 1, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := make([]int, len(tc.ks))
			for i := range hits {
				hits[i] = -1 // every one must be set
			}
			ap := rankMetrics(tc.ranked, tc.relevant, tc.ks, hits)
			if math.Abs(ap-tc.ap) > 1e-12 {
				t.Errorf("AP %v, want %v", ap, tc.ap)
			}
			if !slices.Equal(hits, tc.hits) {
				t.Errorf("hits at %v: %v, want %v", tc.ks, hits, tc.hits)
			}
		})
	}
}

// handItems have dyadic scores, exact in float32 (see the table in
// TestEvaluate_HandMadeSet); e is a group of one.
func handItems() []Item {
	return []Item{
		{"a1", "a", []float32{1, 0}},
		{"a2", "a", []float32{0.75, 0.625}},
		{"b1", "b", []float32{0, 1}},
		{"b2", "b", []float32{0.5, 0.75}},
		{"e", "e", []float32{0.5, 0.5}},
	}
}

func TestEvaluate_HandMadeSet(t *testing.T) {
	// Scores:       a2       b1     b2       e
	//   a1        0.75 T      0     0.5      0.5
	//   a2                0.625 0.84375  0.6875
	//   b1                         0.75 T    0.5
	//   b2                                 0.625
	// Rankings (score down, ties in item order), relevant marked:
	//   a1: a2* b2 e b1   AP 1    hit@1
	//   a2: b2 a1* e b1   AP 1/2
	//   b1: b2* a2 e a1   AP 1    hit@1
	//   b2: a2 b1* e a1   AP 1/2
	// e is a distractor only.
	r, err := Evaluate(handItems(), &Options{Thresholds: []float32{0.75, 0.7, 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Photos != 5 || r.Groups != 3 || r.Singletons != 1 || r.Queries != 4 {
		t.Errorf("photos %d groups %d singletons %d queries %d, want 5 3 1 4", r.Photos, r.Groups, r.Singletons, r.Queries)
	}
	if r.MAP != 0.75 {
		t.Errorf("mAP %v, want (1 + 1/2 + 1 + 1/2) / 4 = 0.75", r.MAP)
	}
	wantK := []AtK{{1, 0.5, 0.5}, {5, 0.2, 1}, {10, 0.1, 1}}
	if !slices.Equal(r.AtK, wantK) {
		t.Errorf("at k %v, want %v", r.AtK, wantK)
	}
	if r.TruePairs != 2 || r.OtherPairs != 8 {
		t.Errorf("%d true and %d other pairs, want 2 and 8", r.TruePairs, r.OtherPairs)
	}
	wantLow := []ScoredPair{{"a1", "a2", 0.75}, {"b1", "b2", 0.75}}
	if !slices.Equal(r.LowestTrue, wantLow) {
		t.Errorf("lowest true pairs %v, want %v", r.LowestTrue, wantLow)
	}
	wantHigh := []ScoredPair{{"a2", "b2", 0.84375}, {"a2", "e", 0.6875}, {"a2", "b1", 0.625}, {"b2", "e", 0.625}, {"a1", "b2", 0.5}}
	if !slices.Equal(r.HighestOther, wantHigh) {
		t.Errorf("highest other pairs %v, want %v", r.HighestOther, wantHigh)
	}
	if r.Margin != 0.75-0.84375 {
		t.Errorf("margin %v, want %v", r.Margin, 0.75-0.84375)
	}
	// Thresholds 0.69 to 0.75 keep both true pairs and a2 ~ b2 only:
	// precision 2/3, recall 1, F1 0.8, the best; the middle one is 0.72.
	want := Point{Threshold: 0.72, Precision: 2.0 / 3, Recall: 1, F1: 0.8}
	if !closePoint(r.Best, want) {
		t.Errorf("best %+v, want %+v", r.Best, want)
	}
	wantAt := []Point{{0.75, 2.0 / 3, 1, 0.8}, {0.7, 2.0 / 3, 1, 0.8}, {0.9, 0, 0, 0}}
	for i := range wantAt {
		if i >= len(r.At) || !closePoint(r.At[i], wantAt[i]) {
			t.Errorf("at %v, want %v", r.At, wantAt)
			break
		}
	}
	if len(r.Sweep) != 85 || r.Sweep[0].Threshold != 0 || r.Sweep[84].Threshold != 0.84 {
		t.Fatalf("sweep has %d points from %v, want 85 from 0 to 0.84", len(r.Sweep), r.Sweep[0].Threshold)
	}
	if p := r.Sweep[0]; !closePoint(p, Point{0, 0.2, 1, 1.0 / 3}) {
		t.Errorf("sweep at 0: %+v, want every pair predicted (precision 2/10)", p)
	}
	if p := r.Sweep[64]; !closePoint(p, Point{0.64, 0.5, 1, 2.0 / 3}) {
		t.Errorf("sweep at 0.64: %+v, want precision 2/4", p)
	}
	h := r.Histogram
	if h.Start != 0 || h.Width != 0.01 || len(h.True) != 85 || len(h.Other) != 85 {
		t.Fatalf("histogram from %v by %v with %d/%d bins, want 85 from 0 by 0.01", h.Start, h.Width, len(h.True), len(h.Other))
	}
	wantOther := map[int]int{0: 1, 50: 3, 62: 2, 68: 1, 84: 1}
	for k := range h.Other {
		if h.Other[k] != wantOther[k] || h.True[k] != map[int]int{75: 2}[k] {
			t.Errorf("bin %d (%.2f): %d true %d other, want %d and %d", k, float64(k)/100, h.True[k], h.Other[k], map[int]int{75: 2}[k], wantOther[k])
		}
	}
}

func closePoint(a, b Point) bool {
	return a.Threshold == b.Threshold && math.Abs(a.Precision-b.Precision) < 1e-12 &&
		math.Abs(a.Recall-b.Recall) < 1e-12 && math.Abs(a.F1-b.F1) < 1e-12
}

// clusters makes n groups of m noisy copies of random unit vectors,
// named from first on.
func clusters(rng *rand.Rand, first rune, n, m, dims int, noise float64) []Item {
	var items []Item
	for g := range n {
		centre := make([]float64, dims)
		for i := range centre {
			centre[i] = rng.NormFloat64()
		}
		for c := range m {
			v := make([]float32, dims)
			var norm float64
			x := make([]float64, dims)
			for i := range x {
				x[i] = centre[i] + noise*rng.NormFloat64()
				norm += x[i] * x[i]
			}
			for i := range x {
				v[i] = float32(x[i] / math.Sqrt(norm))
			}
			group := string(first + rune(g))
			items = append(items, Item{Name: group + strings.Repeat("'", c), Group: group, Vector: v})
		}
	}
	return items
}

// TestEvaluate_SweepMatchesPRF checks every sweep point and extra
// threshold against PRF over Pairs, which count each pair one by one.
func TestEvaluate_SweepMatchesPRF(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, noise := range []float64{0.2, 1, 3} {
		items := clusters(rng, 'A', 6, 4, 16, noise)
		items = append(items, clusters(rng, 'a', 3, 1, 16, noise)...) // distractors
		vecs := make([][]float32, len(items))
		for i := range items {
			vecs[i] = items[i].Vector
		}
		pairs := Pairs(vecs, func(i, j int) bool { return items[i].Group == items[j].Group })
		ths := []float32{0.72, -0.3, 0.5, float32(math.Nextafter32(0.5, 1))}
		r, err := Evaluate(items, &Options{Thresholds: ths})
		if err != nil {
			t.Fatal(err)
		}
		check := func(p Point) {
			t.Helper()
			pr, rc, f1 := PRF(pairs, AtLeast(p.Threshold))
			if p.Precision != pr || p.Recall != rc || p.F1 != f1 {
				t.Errorf("noise %v, threshold %v: %+v, PRF gives %v %v %v", noise, p.Threshold, p, pr, rc, f1)
			}
		}
		for _, p := range r.Sweep {
			check(p)
		}
		for i, p := range r.At {
			if p.Threshold != ths[i] {
				t.Errorf("at[%d] is threshold %v, want %v", i, p.Threshold, ths[i])
			}
			check(p)
		}
		var lowTrue, highOther float32 = 2, -2
		var nTrue, nOther int
		for _, p := range pairs {
			if p.Same {
				lowTrue = min(lowTrue, p.Score)
				nTrue++
			} else {
				highOther = max(highOther, p.Score)
				nOther++
			}
		}
		if r.TruePairs != nTrue || r.OtherPairs != nOther {
			t.Errorf("noise %v: %d true %d other pairs, want %d %d", noise, r.TruePairs, r.OtherPairs, nTrue, nOther)
		}
		if r.LowestTrue[0].Score != lowTrue || r.HighestOther[0].Score != highOther || r.Margin != lowTrue-highOther {
			t.Errorf("noise %v: lowest true %v highest other %v margin %v, want %v %v", noise, r.LowestTrue[0].Score, r.HighestOther[0].Score, r.Margin, lowTrue, highOther)
		}
		var sumTrue, sumOther int
		for k := range r.Histogram.True {
			sumTrue += r.Histogram.True[k]
			sumOther += r.Histogram.Other[k]
		}
		if sumTrue != nTrue || sumOther != nOther {
			t.Errorf("noise %v: histogram holds %d true %d other pairs, want %d %d", noise, sumTrue, sumOther, nTrue, nOther)
		}
		for _, p := range r.Sweep {
			if p.F1 > r.Best.F1 {
				t.Errorf("noise %v: sweep %+v beats the best %+v", noise, p, r.Best)
			}
		}
		if r.Margin > 0 && (r.Best.F1 != 1 || r.Best.Threshold <= highOther || r.Best.Threshold > lowTrue) {
			// A threshold in the gap can only be missed if the gap holds no
			// grid point.
			if gridIndex(lowTrue) != gridIndex(highOther) {
				t.Errorf("noise %v: separable (%v above %v) but best is %+v", noise, lowTrue, highOther, r.Best)
			}
		}
		// Both kinds of set must be covered.
		if noise == 0.2 && r.Margin <= 0 || noise == 3 && r.Margin >= 0 {
			t.Errorf("noise %v: margin %v, want tight clusters separable and loose ones not", noise, r.Margin)
		}
	}
}

func TestBest_MiddleOfTies(t *testing.T) {
	pts := []Point{{0.1, 0, 0, 0.5}, {0.2, 0, 0, 0.9}, {0.3, 0, 0, 0.9}, {0.4, 0, 0, 0.9}, {0.5, 0, 0, 0.7}, {0.6, 0, 0, 0.9}}
	if b := best(pts); b.Threshold != 0.3 {
		t.Errorf("best of four tied at F1 0.9 is %v, want the middle (lower) one, 0.3", b.Threshold)
	}
	if b := best(pts[:2]); b.Threshold != 0.2 {
		t.Errorf("best %v, want 0.2", b.Threshold)
	}
}

func TestGridIndex_Edges(t *testing.T) {
	for _, tc := range []struct {
		s float32
		k int
	}{
		{0.75, 75}, {0.7, 70}, {math.Nextafter32(0.7, 0), 69}, {0.005, 0}, {-0.005, -1}, {1, 100}, {-1, -100},
		{math.Nextafter32(1, 2), 100}, {0.29, 29}, {0.57, 57},
	} {
		if k := gridIndex(tc.s); k != tc.k {
			t.Errorf("gridIndex(%v) = %d, want %d", tc.s, k, tc.k)
		}
	}
}

func TestEvaluate_BadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []Item
		opts  *Options
		want  string
	}{
		{"all singletons", []Item{{"a", "a", []float32{1, 0}}, {"b", "b", []float32{0, 1}}}, nil, "no group has two photos"},
		{"one group", []Item{{"a", "a", []float32{1, 0}}, {"b", "a", []float32{0, 1}}}, nil, "all photos are in one group"},
		{"dims", []Item{{"a", "a", []float32{1, 0}}, {"b", "a", []float32{1}}, {"c", "c", []float32{0, 1}}}, nil, "b has 1 dimensions, a has 2"},
		{"not normalised", []Item{{"a", "a", []float32{2, 0}}, {"b", "a", []float32{2, 0}}, {"c", "c", []float32{0, 1}}}, nil, "a ~ b scores 4, not a cosine"},
		{"NaN", []Item{{"a", "a", []float32{float32(math.NaN()), 0}}, {"b", "a", []float32{1, 0}}, {"c", "c", []float32{0, 1}}}, nil, "not a cosine"},
		{"k", handItems(), &Options{Ks: []int{0}}, "k 0, want 1 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(tc.items, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

package evaluate

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Item is one photo of an evaluation set: a name for reports, the group
// it belongs to (photos of one group are relevant to each other and form
// the true pairs) and its L2-normalised embedding.
type Item struct {
	Name   string
	Group  string
	Vector []float32
}

// Options configure Evaluate. The zero value (or nil) means k = 1, 5, 10
// and the five worst pairs of each kind.
type Options struct {
	Ks         []int     // cut-offs for precision@k and recall@k
	Thresholds []float32 // extra thresholds scored exactly, in Report.At (a model's default, a calibration table)
	Worst      int       // how many of the lowest true and highest other pairs to name; 0 means 5
}

// Report is what Evaluate measures, ready for JSON.
type Report struct {
	Photos     int `json:"photos"`
	Groups     int `json:"groups"`
	Singletons int `json:"singletons"` // groups of one photo: distractors, never queries
	Queries    int `json:"queries"`    // photos with at least one other of their group

	// Retrieval: each query ranks every other photo by score, and the
	// photos of its group are the relevant ones.
	MAP float64 `json:"map"` // mean average precision over the queries
	AtK []AtK   `json:"at_k"`

	// Pairs: every unordered pair of photos, true when both are of one
	// group (what dedup should find).
	TruePairs    int          `json:"true_pairs"`
	OtherPairs   int          `json:"other_pairs"`
	LowestTrue   []ScoredPair `json:"lowest_true_pairs"`   // lowest first
	HighestOther []ScoredPair `json:"highest_other_pairs"` // highest first
	// Margin is the lowest true pair's score minus the highest other
	// pair's: positive when some threshold separates them perfectly.
	Margin float32 `json:"margin"`
	// Best is the sweep's threshold with the highest F1; among ties, the
	// middle one, which keeps the most room on both sides.
	Best      Point     `json:"best"`
	At        []Point   `json:"at,omitempty"` // Options.Thresholds, in order
	Sweep     []Point   `json:"sweep"`        // every 0.01 over the observed scores
	Histogram Histogram `json:"histogram"`
}

// AtK is the mean precision and recall of the first K results.
type AtK struct {
	K         int     `json:"k"`
	Precision float64 `json:"precision"` // relevant among the first K, over K
	Recall    float64 `json:"recall"`    // relevant among the first K, over all relevant
}

// ScoredPair names two photos and their score.
type ScoredPair struct {
	A     string  `json:"a"`
	B     string  `json:"b"`
	Score float32 `json:"score"`
}

// Point is the pair precision, recall and F1 of predicting every pair
// that scores Threshold or more (as AtLeast and PRF count them).
type Point struct {
	Threshold float32 `json:"threshold"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Histogram counts pair scores in bins of Width from Start: bin i holds
// the scores s with Start+i·Width ≤ s < Start+(i+1)·Width, the bin edges
// being the sweep's thresholds.
type Histogram struct {
	Start float32 `json:"start"`
	Width float32 `json:"width"`
	True  []int   `json:"true"`
	Other []int   `json:"other"`
}

// perUnit sets the sweep's spacing: its thresholds are the multiples of
// 1/perUnit.
const perUnit = 100

// gridLimit bounds the grid: cosines of unit vectors lie in [-1, 1],
// and float32 rounding moves them by far less than a step.
const gridLimit = perUnit + 2

func gridThreshold(k int) float32 { return float32(float64(k) / perUnit) }

// gridIndex is the k with gridThreshold(k) ≤ s < gridThreshold(k+1).
func gridIndex(s float32) int {
	k := int(math.Floor(float64(s) * perUnit))
	for gridThreshold(k+1) <= s {
		k++
	}
	for gridThreshold(k) > s {
		k--
	}
	return k
}

// Evaluate measures retrieval and pair separation on items. Every photo
// whose group has another photo is a query against all the others
// (ties in score ranked in item order); groups of one photo are kept as
// distractors only, so they lower precision when they rank high but
// never count as queries with nothing to find. It fails when no group
// has two photos or all photos are in one group, when vectors differ in
// length, or when a score is not a cosine (vectors not L2-normalised).
// It needs memory in proportion to the number of items, and time to its
// square.
func Evaluate(items []Item, opts *Options) (Report, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Ks == nil {
		o.Ks = []int{1, 5, 10}
	}
	for _, k := range o.Ks {
		if k < 1 {
			return Report{}, fmt.Errorf("evaluate: k %d, want 1 or more", k)
		}
	}
	if o.Worst == 0 {
		o.Worst = 5
	}
	r := Report{Photos: len(items)}
	size := map[string]int{}
	for _, it := range items {
		size[it.Group]++
		if len(it.Vector) != len(items[0].Vector) {
			return Report{}, fmt.Errorf("evaluate: %s has %d dimensions, %s has %d", it.Name, len(it.Vector), items[0].Name, len(items[0].Vector))
		}
	}
	r.Groups = len(size)
	for _, n := range size {
		if n == 1 {
			r.Singletons++
		}
	}
	switch {
	case r.Groups == r.Singletons:
		return Report{}, errors.New("evaluate: no group has two photos, so there is nothing to find")
	case r.Groups == 1:
		return Report{}, errors.New("evaluate: all photos are in one group, so there is nothing to tell apart")
	}

	// bins[k+gridLimit] counts the scores s with grid index k.
	trueBins := make([]int, 2*gridLimit+1)
	otherBins := make([]int, 2*gridLimit+1)
	at := make([][3]int, len(o.Thresholds)) // per extra threshold: true ≥, other ≥, true <
	lowest := worstList{n: o.Worst, less: func(a, b ScoredPair) bool { return a.Score < b.Score }}
	highest := worstList{n: o.Worst, less: func(a, b ScoredPair) bool { return a.Score > b.Score }}
	hits := make([]int, len(o.Ks))
	var sumAP float64
	sumP := make([]float64, len(o.Ks))
	sumR := make([]float64, len(o.Ks))
	row := make([]float32, len(items))
	order := make([]int, 0, len(items))
	for i := range items {
		for j := range items {
			if j != i {
				row[j] = dot(items[i].Vector, items[j].Vector)
			}
		}
		for j := i + 1; j < len(items); j++ {
			s := row[j]
			if math.IsNaN(float64(s)) || s < -1-1.0/perUnit || s > 1+1.0/perUnit {
				return Report{}, fmt.Errorf("evaluate: %s ~ %s scores %v, not a cosine (vectors not L2-normalised?)", items[i].Name, items[j].Name, s)
			}
			same := items[i].Group == items[j].Group
			p := ScoredPair{A: items[i].Name, B: items[j].Name, Score: s}
			k := gridIndex(s) + gridLimit
			if same {
				r.TruePairs++
				trueBins[k]++
				lowest.add(p)
			} else {
				r.OtherPairs++
				otherBins[k]++
				highest.add(p)
			}
			for t, th := range o.Thresholds {
				switch {
				case s >= th && same:
					at[t][0]++
				case s >= th:
					at[t][1]++
				case same:
					at[t][2]++
				}
			}
		}
		relevant := size[items[i].Group] - 1
		if relevant == 0 {
			continue
		}
		order = order[:0]
		for j := range items {
			if j != i {
				order = append(order, j)
			}
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		ranked := make([]bool, len(order))
		for n, j := range order {
			ranked[n] = items[j].Group == items[i].Group
		}
		ap := rankMetrics(ranked, relevant, o.Ks, hits)
		sumAP += ap
		for n, k := range o.Ks {
			sumP[n] += float64(hits[n]) / float64(k)
			sumR[n] += float64(hits[n]) / float64(relevant)
		}
		r.Queries++
	}
	r.MAP = sumAP / float64(r.Queries)
	for n, k := range o.Ks {
		r.AtK = append(r.AtK, AtK{K: k, Precision: sumP[n] / float64(r.Queries), Recall: sumR[n] / float64(r.Queries)})
	}
	r.LowestTrue, r.HighestOther = lowest.pairs, highest.pairs
	r.Margin = r.LowestTrue[0].Score - r.HighestOther[0].Score
	for t, th := range o.Thresholds {
		r.At = append(r.At, point(th, at[t][0], at[t][1], at[t][2]))
	}
	r.Sweep, r.Histogram = sweep(trueBins, otherBins)
	r.Best = best(r.Sweep)
	return r, nil
}

// rankMetrics returns the average precision of a ranking (ranked[n]: the
// result at rank n+1 is relevant) with relevant relevant results in all,
// and sets hits[i] to the relevant results among the first ks[i].
func rankMetrics(ranked []bool, relevant int, ks []int, hits []int) float64 {
	var found int
	var sum float64
	for n, rel := range ranked {
		if rel {
			found++
			sum += float64(found) / float64(n+1)
		}
		for i, k := range ks {
			if n+1 == k {
				hits[i] = found
			}
		}
	}
	for i, k := range ks {
		if k > len(ranked) {
			hits[i] = found
		}
	}
	return sum / float64(relevant)
}

// point is the precision, recall and F1 from counts, as PRF computes them.
func point(th float32, tp, fp, fn int) Point {
	p := Point{Threshold: th}
	if tp+fp > 0 {
		p.Precision = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		p.Recall = float64(tp) / float64(tp+fn)
	}
	if p.Precision+p.Recall > 0 {
		p.F1 = 2 * p.Precision * p.Recall / (p.Precision + p.Recall)
	}
	return p
}

// sweep scores every grid threshold from the lowest score's bin to the
// highest's, and returns the bins of that range.
func sweep(trueBins, otherBins []int) ([]Point, Histogram) {
	lo, hi := len(trueBins), -1
	for k := range trueBins {
		if trueBins[k]+otherBins[k] > 0 {
			lo, hi = min(lo, k), max(hi, k)
		}
	}
	var totalTrue int
	for _, n := range trueBins {
		totalTrue += n
	}
	pts := make([]Point, hi-lo+1)
	var tp, fp int // pairs at or above the threshold
	for k := hi; k >= lo; k-- {
		tp += trueBins[k]
		fp += otherBins[k]
		pts[k-lo] = point(gridThreshold(k-gridLimit), tp, fp, totalTrue-tp)
	}
	h := Histogram{
		Start: gridThreshold(lo - gridLimit),
		Width: 1.0 / perUnit,
		True:  append([]int(nil), trueBins[lo:hi+1]...),
		Other: append([]int(nil), otherBins[lo:hi+1]...),
	}
	return pts, h
}

// best is the point of highest F1; among ties, the middle one.
func best(pts []Point) Point {
	var top []Point
	for _, p := range pts {
		switch {
		case len(top) == 0 || p.F1 > top[0].F1:
			top = append(top[:0], p)
		case p.F1 == top[0].F1:
			top = append(top, p)
		}
	}
	return top[(len(top)-1)/2]
}

// worstList keeps the n pairs that come first by less, in that order;
// equal scores keep the order they were added in.
type worstList struct {
	n     int
	less  func(a, b ScoredPair) bool
	pairs []ScoredPair
}

func (w *worstList) add(p ScoredPair) {
	i := sort.Search(len(w.pairs), func(i int) bool { return w.less(p, w.pairs[i]) })
	if i >= w.n {
		return
	}
	if len(w.pairs) < w.n {
		w.pairs = append(w.pairs, ScoredPair{})
	}
	copy(w.pairs[i+1:], w.pairs[i:])
	w.pairs[i] = p
}

// dot is the score Pairs gives, accumulated in the same order so that
// both count the same pairs at a threshold.
func dot(a, b []float32) float32 {
	var s float32
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

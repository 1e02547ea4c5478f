package evaluate

// Pair is two of the scored embeddings, by index (A < B).
type Pair struct {
	A, B  int
	Score float32 // dot product: the cosine of L2-normalised embeddings
	Same  bool    // a true pair: both are copies of one original
}

// Pairs scores every pair of vecs by dot product; same(i, j), with i < j,
// says whether vecs[i] and vecs[j] come from one original.
func Pairs(vecs [][]float32, same func(i, j int) bool) []Pair {
	n := len(vecs)
	out := make([]Pair, 0, n*(n-1)/2)
	for i := range vecs {
		for j := i + 1; j < n; j++ {
			out = append(out, Pair{A: i, B: j, Score: dot(vecs[i], vecs[j]), Same: same(i, j)})
		}
	}
	return out
}

// AtLeast predicts the pairs that score th or more, as dedup's near
// duplicates are found.
func AtLeast(th float32) func(Pair) bool {
	return func(p Pair) bool { return p.Score >= th }
}

// PRF returns the precision, recall and F1 of the pairs that predicted
// picks among pairs, against the true ones. Each is 0 where it is
// undefined: precision when nothing is predicted, recall when there is no
// true pair.
func PRF(pairs []Pair, predicted func(Pair) bool) (precision, recall, f1 float64) {
	var tp, fp, fn int
	for _, p := range pairs {
		switch hit := predicted(p); {
		case hit && p.Same:
			tp++
		case hit:
			fp++
		case p.Same:
			fn++
		}
	}
	if tp+fp > 0 {
		precision = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		recall = float64(tp) / float64(tp+fn)
	}
	if precision+recall > 0 {
		f1 = 2 * precision * recall / (precision + recall)
	}
	return precision, recall, f1
}

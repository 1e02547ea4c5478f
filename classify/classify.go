package classify

import (
	"math"
	"sort"
)

// Class is one class of a classifier.
type Class struct {
	ID   string `json:"id"`   // WordNet id for ImageNet (n02129604), the folder name for a trained head
	Name string `json:"name"` // human name: the first of ImageNet's synonyms, or the folder name
}

// Prediction is one class and its probability.
type Prediction struct {
	Class
	Index int     `json:"index"` // position of the class in the classifier's output
	Prob  float32 `json:"prob"`
}

// Softmax writes to dst the probabilities of the raw scores: exp(s_i -
// max) normalised to sum 1, computed in float64 so that large scores do
// not overflow. dst and scores may be the same slice.
func Softmax(dst, scores []float32) {
	if len(scores) == 0 {
		return
	}
	hi := math.Inf(-1)
	for _, s := range scores {
		hi = max(hi, float64(s))
	}
	var sum float64
	e := make([]float64, len(scores))
	for i, s := range scores {
		e[i] = math.Exp(float64(s) - hi)
		sum += e[i]
	}
	for i := range e {
		dst[i] = float32(e[i] / sum)
	}
}

// Top returns the k most probable classes of probs, best first; ties go
// to the lower index. classes names the outputs; an index beyond it gets
// an empty Class.
func Top(probs []float32, classes []Class, k int) []Prediction {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	k = min(max(k, 0), len(idx))
	out := make([]Prediction, k)
	for r, i := range idx[:k] {
		out[r] = Prediction{Index: i, Prob: probs[i]}
		if i < len(classes) {
			out[r].Class = classes[i]
		}
	}
	return out
}

// Package evaluate measures how well similarity scores find known copies.
// Pairs scores every pair of a set of embeddings and marks the true pairs
// (copies of one original); PRF gives the precision, recall and F1 of
// the pairs a rule predicts, such as a threshold (AtLeast) or dedup's
// groups, against those true pairs.
//
// The calibration test of the default thresholds and the dedup row of
// the benchmark report both count pairs this way, so their figures agree.
//
// Example: pair precision, recall and F1 at the threshold 0.72.
//
//	pairs := evaluate.Pairs(vecs, func(i, j int) bool { return original[i] == original[j] })
//	p, r, f1 := evaluate.PRF(pairs, evaluate.AtLeast(0.72))
package evaluate

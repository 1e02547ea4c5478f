// Package evaluate measures how well similarity scores find what belongs
// together. Pairs scores every pair of a set of embeddings and marks the
// true pairs (copies of one original); PRF gives the precision, recall
// and F1 of the pairs a rule predicts, such as a threshold (AtLeast) or
// dedup's groups, against those true pairs.
//
// Evaluate does the whole job on a labelled set (Item: name, group,
// vector) and returns a Report: retrieval mean average precision and
// precision/recall at k, each photo a query against all others; pair
// precision/recall/F1 swept every 0.01 over the observed scores, the
// threshold of highest F1, the margin between the lowest true pair and
// the highest other, and the score histograms. It counts pairs as PRF
// does, so its figures agree with the calibration test and the dedup row
// of the benchmark report.
//
// Example: pair precision, recall and F1 at the threshold 0.72.
//
//	pairs := evaluate.Pairs(vecs, func(i, j int) bool { return original[i] == original[j] })
//	p, r, f1 := evaluate.PRF(pairs, evaluate.AtLeast(0.72))
//
// Example: everything, for photos labelled with their group.
//
//	r, err := evaluate.Evaluate(items, &evaluate.Options{Thresholds: []float32{0.72}})
//	fmt.Printf("mAP %.3f, best F1 %.3f at %.2f, margin %+.3f\n", r.MAP, r.Best.F1, r.Best.Threshold, r.Margin)
package evaluate

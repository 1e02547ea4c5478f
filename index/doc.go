// Package index provides nearest-neighbour indexes over L2-normalised
// float32 vectors, scored by cosine similarity (the dot product).
//
// Two implementations satisfy [Index]:
//
//   - [Flat] is exact: it scans one contiguous slab of vectors with SIMD dot
//     products, in parallel over the cores for large sets.
//   - [HNSW] is approximate: a Hierarchical Navigable Small World graph
//     (Malkov & Yashunin, 2018) kept in flat arrays, safe for concurrent
//     searches and inserts, with tombstone deletes and compaction. Its
//     Tune measures recall@10 on a sample of its own vectors and raises
//     the default search breadth until it reaches a target, so recall
//     holds as the graph grows; NeedsTuning says when to measure again.
//
// Both save to an io.Writer and load from an io.Reader in a checked binary
// format; Load never trusts counts it has not read data for.
//
// Example:
//
//	idx := index.NewHNSW(512, nil) // nil: M=16, EfConstruction=200, EfSearch=64
//	if err := idx.Add(42, vec); err != nil { // vec is L2-normalised
//		return err
//	}
//	idx.Tune(1) // choose ef for recall@10 ≥ TargetRecall (0.95) at this size
//	hits, err := idx.Search(query, 10, 0) // 0: the tuned (else default) ef
//	if err != nil {
//		return err
//	}
//	for _, h := range hits {
//		fmt.Println(h.ID, h.Score)
//	}
package index

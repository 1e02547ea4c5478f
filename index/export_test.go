package index

// SampleRecall is what Tune measures at each ef on its sample for seed:
// with each query's own node out of its search, or, if leaveIn, only out
// of its results (how Tune measured before).
func SampleRecall(h *HNSW, seed uint64, efs []int, leaveIn bool) []float64 {
	sm := h.tuneSample(seed)
	if leaveIn {
		sm.epoch++ // search ignores a hole from another epoch
	}
	out := make([]float64, len(efs))
	for i, ef := range efs {
		out[i] = h.sampleRecall(&sm, ef)
	}
	return out
}

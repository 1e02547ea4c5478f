package index

import (
	"fmt"
	"os"
)

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

// Mapped reports whether h's graph uses a memory map (LoadFile).
func Mapped(h *HNSW) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.mapped != nil
}

// LoadInPlace decodes b as LoadFile decodes a mapped file, using b's
// arrays in place, without a map.
func LoadInPlace(h *HNSW, b []byte) error {
	g, _, err := h.decodeMem(b)
	if err != nil {
		return fmt.Errorf("load hnsw index: %w", err)
	}
	h.replace(g)
	return nil
}

// LoadCutUnderMap maps f, truncates it to keep bytes, as another process
// might, and then decodes the map as LoadFile would.
func LoadCutUnderMap(h *HNSW, f *os.File, keep int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	mem, err := mapFile(f, fi.Size())
	if err != nil {
		return err
	}
	defer unmap(mem)
	if err := os.Truncate(f.Name(), keep); err != nil {
		return err
	}
	_, _, err = h.decodeMem(mem)
	return err
}

package index

// Contains reports whether id is a live (not deleted) vector of the index.
func (h *HNSW) Contains(id uint64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, ok := h.slots[id]
	return ok && !h.deleted[s]
}

// IDs returns the ids of the live vectors, in no particular order.
func (h *HNSW) IDs() []uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]uint64, 0, len(h.slots))
	for id := range h.slots {
		ids = append(ids, id)
	}
	return ids
}

// Vector returns a copy of the vector stored under id, and whether it is a
// live one.
func (h *HNSW) Vector(id uint64) ([]float32, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, ok := h.slots[id]
	if !ok || h.deleted[s] {
		return nil, false
	}
	return append([]float32(nil), h.vec(s)...), true
}

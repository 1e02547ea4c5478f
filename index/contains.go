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

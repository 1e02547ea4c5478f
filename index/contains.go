package index

// Contains reports whether id is a live (not deleted) vector of the index.
func (h *HNSW) Contains(id uint64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, ok := h.slots[id]
	return ok && !h.deleted[s]
}

package index

// visited is a set of graph slots that is cleared in O(1) by bumping a
// generation stamp, so a search never allocates or clears a map. Each
// pooled searcher (HNSW.scratch, a sync.Pool) owns one.
type visited struct {
	gen   uint16
	marks []uint16
}

// reset prepares the set for a graph of n slots.
func (v *visited) reset(n int) {
	if len(v.marks) < n {
		v.marks = make([]uint16, n+n/4)
		v.gen = 0
	}
	v.gen++
	if v.gen == 0 { // wrapped: stale stamps could collide, so clear once
		clear(v.marks)
		v.gen = 1
	}
}

// visit marks slot and reports whether it was already marked.
func (v *visited) visit(slot uint32) bool {
	if v.marks[slot] == v.gen {
		return true
	}
	v.marks[slot] = v.gen
	return false
}

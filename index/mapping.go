package index

import "sync/atomic"

// mapping is a memory map that a graph's arrays may point into (see
// HNSW.LoadFile). It is unmapped when its last user lets go: the graph
// that uses it, when that graph is replaced (Load, compaction) or its
// HNSW is collected, and any Save still writing from it. No exported
// method hands out a slice that points into it.
type mapping struct {
	mem     []byte
	refs    atomic.Int64 // the graph's reference and Save's borrows
	dropped atomic.Bool  // the graph's reference is gone
}

func newMapping(mem []byte) *mapping {
	m := &mapping{mem: mem}
	m.refs.Store(1)
	return m
}

// borrow keeps m mapped until the matching release. The caller holds the
// HNSW's lock, under which the graph's own reference is still there.
func (m *mapping) borrow() {
	if m != nil {
		m.refs.Add(1)
	}
}

func (m *mapping) release() {
	if m != nil && m.refs.Add(-1) == 0 {
		unmap(m.mem)
		m.mem = nil
	}
}

// drop gives up the graph's reference, once, however often it is called
// (by the graph's replacement and by the HNSW's cleanup).
func (m *mapping) drop() {
	if m != nil && m.dropped.CompareAndSwap(false, true) {
		m.release()
	}
}

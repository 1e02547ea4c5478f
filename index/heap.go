package index

// cand is a graph node or slab row with its similarity to the query.
type cand struct {
	sim  float32
	slot uint32
}

// minHeap keeps the worst (lowest similarity) candidate on top, so it can
// hold the best k seen so far and evict cheaply. maxHeap keeps the best on
// top, for best-first expansion. Hand-written rather than container/heap to
// avoid interface boxing in the hot loop.
type minHeap []cand

func (h *minHeap) push(c cand) {
	s := append(*h, c)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].sim <= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
	*h = s
}

func (h *minHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down()
	return top
}

// replaceTop swaps the worst candidate for c and restores the order.
func (h *minHeap) replaceTop(c cand) {
	(*h)[0] = c
	h.down()
}

func (h minHeap) down() {
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].sim < h[l].sim {
			m = r
		}
		if h[i].sim <= h[m].sim {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

type maxHeap []cand

func (h *maxHeap) push(c cand) {
	s := append(*h, c)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].sim >= s[i].sim {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
	*h = s
}

func (h *maxHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].sim > s[l].sim {
			m = r
		}
		if s[i].sim >= s[m].sim {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// topK collects the k best candidates offered to it.
type topK struct {
	k int
	h minHeap
}

func (t *topK) offer(c cand) {
	if len(t.h) < t.k {
		t.h.push(c)
	} else if c.sim > t.h[0].sim {
		t.h.replaceTop(c)
	}
}

// sorted drains the heap, best first.
func (t *topK) sorted() []cand {
	out := make([]cand, len(t.h))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = t.h.pop()
	}
	return out
}

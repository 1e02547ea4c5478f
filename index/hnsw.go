package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// HNSWOptions are the graph parameters. A nil *HNSWOptions means the
// defaults; a zero field takes its default too.
type HNSWOptions struct {
	// M is the number of neighbours kept per node on the upper levels;
	// level 0 keeps 2*M. Default 16.
	M int
	// EfConstruction is the search breadth while inserting. Default 200.
	EfConstruction int
	// EfSearch is the search breadth when Search is given ef ≤ 0, until
	// Tune raises it. Default 64. Options reports the breadth in use.
	EfSearch int
	// TargetRecall is the recall@10 Tune chooses the search breadth for.
	// Default 0.95 (DefaultTargetRecall); values above 1 mean 1.
	TargetRecall float64
	// Seed seeds the level generator, so sequential builds are reproducible.
	// Default 1.
	Seed uint64
}

// Defaults and bounds of the HNSW parameters.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	DefaultEfSearch       = 64
	DefaultTargetRecall   = 0.95
	maxM                  = 256
	maxEf                 = 1 << 16
	maxLevel              = 31
	// compactRatio: once tombstones exceed this share of the nodes, the
	// graph is rebuilt from the live vectors.
	compactRatio = 0.2
	// lockStripes guard the neighbour lists; node s uses locks[s%lockStripes].
	lockStripes = 1024
	noSlot      = math.MaxUint32
	noEntry     = math.MaxUint64
)

// HNSW is an approximate index: a Hierarchical Navigable Small World graph
// (Malkov & Yashunin 2018) with the neighbour-selection heuristic of their
// Algorithm 4. Vectors live in one slab, level-0 neighbour lists in another
// (each row: count, then up to 2*M slots), upper-level lists per node.
//
// Searches and inserts run concurrently: a RWMutex is held shared by both
// and exclusively only to grow the slabs, delete, compact or load, while
// striped mutexes guard the neighbour lists. Deleted nodes are tombstones:
// never returned but still routing, until they exceed 20% of the nodes and
// Delete (or a replacing Add) rebuilds the graph.
//
// Measured by make bench (bench/results/2026-11-29-vm.md) on 100k
// clustered 512-d vectors, 2 cores, defaults: build 3,287 vectors/s with
// AddBatch (hnswlib 0.6.2 on the same data: 2,862); one query at ef=32
// recall@10 0.948, p50 0.141 ms (hnswlib 0.946, 0.168 ms); ef=64 0.993,
// 0.181 ms; Flat 7.1 ms; Load 0.25 s.
type HNSW struct {
	mu      sync.RWMutex
	epoch   uint64 // bumped when slots are renumbered (compact, Load)
	locks   [lockStripes]sync.Mutex
	scratch sync.Pool // *searcher
	// size is the dimension, read without locks; graph.dims, which Load
	// and compaction rewrite, always equals it.
	size int
	// target is TargetRecall, a construction option that Load keeps.
	target float64
	graph
}

// graph is the state that compaction and Load replace wholesale.
type graph struct {
	dims, m, m0, efC, efS int
	// efBase is the EfSearch option; efS is the breadth in use: efBase, or
	// what Tune chose, which tuning records.
	efBase int
	tuning Tuning
	mL     float64
	pcg    *rand.PCG // used only under the write lock
	rng    *rand.Rand

	vecs     []float32 // slot*dims
	ids      []uint64  // slot → id, also for tombstones
	levels   []uint8
	deleted  []bool
	links0   []uint32   // slot*(m0+1): count, neighbours
	upper    [][]uint32 // slot → levels 1..L, each: count, m neighbours
	slots    map[uint64]uint32
	ndeleted int
	entry    uint64 // level<<32 | slot, or noEntry; accessed atomically
	// mapped is the memory map that ids, vecs, links0 and upper may point
	// into (LoadFile), or nil; whoever replaces the graph drops it.
	mapped *mapping
}

var _ Index = (*HNSW)(nil)

// NewHNSW returns an empty graph for vectors of dims dimensions.
func NewHNSW(dims int, opts *HNSWOptions) *HNSW {
	o := HNSWOptions{M: DefaultM, EfConstruction: DefaultEfConstruction, EfSearch: DefaultEfSearch, TargetRecall: DefaultTargetRecall, Seed: 1}
	if opts != nil {
		if opts.M > 0 {
			o.M = min(max(opts.M, 2), maxM)
		}
		if opts.EfConstruction > 0 {
			o.EfConstruction = min(opts.EfConstruction, maxEf)
		}
		if opts.EfSearch > 0 {
			o.EfSearch = min(opts.EfSearch, maxEf)
		}
		if opts.TargetRecall > 0 {
			o.TargetRecall = min(opts.TargetRecall, 1)
		}
		if opts.Seed != 0 {
			o.Seed = opts.Seed
		}
	}
	h := &HNSW{size: dims, target: o.TargetRecall}
	h.graph = newGraph(dims, o.M, o.EfConstruction, o.EfSearch, rand.NewPCG(o.Seed, 0x5eed))
	return h
}

func newGraph(dims, m, efC, efS int, pcg *rand.PCG) graph {
	return graph{
		dims: dims, m: m, m0: 2 * m, efC: efC, efS: efS, efBase: efS,
		mL:  1 / math.Log(float64(m)),
		pcg: pcg, rng: rand.New(pcg),
		slots: make(map[uint64]uint32), entry: noEntry,
	}
}

// Dims is the vector dimension fixed at construction.
func (h *HNSW) Dims() int { return h.size }

// Options reports the parameters in use; EfSearch is the breadth Tune
// chose, if it did.
func (h *HNSW) Options() HNSWOptions {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return HNSWOptions{M: h.m, EfConstruction: h.efC, EfSearch: h.efS, TargetRecall: h.target}
}

// Len is the number of live vectors.
func (h *HNSW) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.slots)
}

func (g *graph) vec(s uint32) []float32 {
	i := int(s) * g.dims
	return g.vecs[i : i+g.dims : i+g.dims]
}

// list is the raw neighbour row of s at level: count, then capacity slots.
// The caller holds s's stripe lock.
func (g *graph) list(s uint32, level int) []uint32 {
	if level == 0 {
		i := int(s) * (g.m0 + 1)
		return g.links0[i : i+g.m0+1]
	}
	i := (level - 1) * (g.m + 1)
	return g.upper[s][i : i+g.m+1]
}

func (h *HNSW) lock(s uint32) *sync.Mutex { return &h.locks[s%lockStripes] }

// neighbours copies the neighbours of s at level into buf.
func (h *HNSW) neighbours(s uint32, level int, buf []uint32) []uint32 {
	mu := h.lock(s)
	mu.Lock()
	l := h.list(s, level)
	buf = append(buf[:0], l[1:1+l[0]]...)
	mu.Unlock()
	return buf
}

func splitEntry(e uint64) (slot uint32, level int) { return uint32(e), int(e >> 32) }

// Add inserts v (copied) under id. An existing id is replaced: its old node
// becomes a tombstone and a new node is inserted.
func (h *HNSW) Add(id uint64, v []float32) error {
	if err := checkDims(h.size, v); err != nil {
		return fmt.Errorf("add %d: %w", id, err)
	}
	h.mu.Lock()
	slot := h.allocLocked(id, v)
	epoch := h.epoch
	h.mu.Unlock()
	h.link(slot, epoch)
	return nil
}

// AddBatch inserts many vectors, linking them in parallel over GOMAXPROCS
// goroutines. As with Add, an id the index holds is replaced, and a later
// duplicate id in the batch replaces an earlier one.
// Nothing is added if any vector has the wrong dimension.
func (h *HNSW) AddBatch(ids []uint64, vecs [][]float32) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("add batch: %d ids for %d vectors", len(ids), len(vecs))
	}
	for i, v := range vecs {
		if err := checkDims(h.size, v); err != nil {
			return fmt.Errorf("add batch: id %d: %w", ids[i], err)
		}
	}
	h.insertBatch(ids, vecs)
	return nil
}

// insertBatch allocates all nodes, then links them in parallel. Each node
// remembers the epoch it was allocated in: a replacing id can trigger a
// compaction halfway, which already inserts the nodes allocated before it.
func (h *HNSW) insertBatch(ids []uint64, vecs [][]float32) {
	h.mu.Lock()
	h.growLocked(len(ids))
	slots := make([]uint32, len(ids))
	epochs := make([]uint64, len(ids))
	for i, id := range ids {
		slots[i] = h.allocLocked(id, vecs[i])
		epochs[i] = h.epoch
	}
	h.mu.Unlock()

	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(slots)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(slots)); i = next.Add(1) - 1 {
				h.link(slots[i], epochs[i])
			}
		})
	}
	wg.Wait()
}

// growLocked makes room for n more nodes so a batch does not reallocate
// the slabs once per doubling.
func (h *HNSW) growLocked(n int) {
	h.vecs = slices.Grow(h.vecs, n*h.dims)
	h.ids = slices.Grow(h.ids, n)
	h.levels = slices.Grow(h.levels, n)
	h.deleted = slices.Grow(h.deleted, n)
	h.links0 = slices.Grow(h.links0, n*(h.m0+1))
	h.upper = slices.Grow(h.upper, n)
}

// allocLocked appends a node for v, tombstoning a node id already had, and
// returns its slot. The node is linked into the graph later, by link.
func (h *HNSW) allocLocked(id uint64, v []float32) uint32 {
	if old, ok := h.slots[id]; ok {
		delete(h.slots, id)
		h.deleted[old] = true
		h.ndeleted++
		h.maybeCompactLocked()
	}
	level := min(int(-math.Log(1-h.rng.Float64())*h.mL), maxLevel)

	slot := uint32(len(h.ids))
	h.vecs = append(h.vecs, v...)
	h.ids = append(h.ids, id)
	h.levels = append(h.levels, uint8(level))
	h.deleted = append(h.deleted, false)
	h.links0 = append(h.links0, make([]uint32, h.m0+1)...)
	var up []uint32
	if level > 0 {
		up = make([]uint32, level*(h.m+1))
	}
	h.upper = append(h.upper, up)
	h.slots[id] = slot
	if atomic.LoadUint64(&h.entry) == noEntry {
		atomic.StoreUint64(&h.entry, uint64(level)<<32|uint64(slot))
	}
	return slot
}

// link connects an allocated node to the graph (Algorithm 1). It is skipped
// if the slots were renumbered since allocation: the rebuild that did it
// already inserted the node.
func (h *HNSW) link(slot uint32, epoch uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.epoch != epoch {
		return
	}
	epSlot, epLevel := splitEntry(atomic.LoadUint64(&h.entry))
	if epSlot == slot {
		return // the first node: nothing to link to
	}
	level := int(h.levels[slot])
	q := h.vec(slot)
	s := h.searcher()
	defer h.scratch.Put(s)

	cur := cand{sim: dot(q, h.vec(epSlot)), slot: epSlot}
	for l := epLevel; l > level; l-- {
		cur = h.greedy(s, q, cur, l, noSlot)
	}
	// Choose the neighbours top-down, but write the links bottom-up: a node
	// must never be reachable on a level whose lower lists are still empty,
	// or a concurrent insert could descend into a dead end.
	top := min(level, epLevel)
	for len(s.chosen) <= top {
		s.chosen = append(s.chosen, nil)
	}
	for l := top; l >= 0; l-- {
		s.chosen[l] = s.chosen[l][:0]
		h.searchLayer(s, q, cur, h.efC, l, false, slot, noSlot)
		if len(s.res) == 0 {
			continue
		}
		found := s.sortedResults()
		cur = found[0]
		s.chosen[l] = h.selectNeighbours(found, h.m, true, s.chosen[l])
	}
	for l := 0; l <= top; l++ {
		mu := h.lock(slot)
		mu.Lock()
		row := h.list(slot, l)
		row[0] = uint32(len(s.chosen[l]))
		for i, c := range s.chosen[l] {
			row[1+i] = c.slot
		}
		mu.Unlock()
		for _, c := range s.chosen[l] {
			h.addLink(s, c.slot, slot, c.sim, l)
		}
	}
	if level > epLevel {
		want := uint64(level)<<32 | uint64(slot)
		for {
			e := atomic.LoadUint64(&h.entry)
			if _, l := splitEntry(e); l >= level || atomic.CompareAndSwapUint64(&h.entry, e, want) {
				break
			}
		}
	}
}

// addLink adds the edge from → to at level, pruning from's list with the
// heuristic when it is full.
func (h *HNSW) addLink(s *searcher, from, to uint32, sim float32, level int) {
	limit := h.m
	if level == 0 {
		limit = h.m0
	}
	mu := h.lock(from)
	mu.Lock()
	defer mu.Unlock()
	row := h.list(from, level)
	n := int(row[0])
	if slices.Contains(row[1:1+n], to) {
		return
	}
	if n < limit {
		row[1+n] = to
		row[0]++
		return
	}
	base := h.vec(from)
	cs := append(s.prune[:0], cand{sim: sim, slot: to})
	for _, nb := range row[1 : 1+n] {
		cs = append(cs, cand{sim: dot(base, h.vec(nb)), slot: nb})
	}
	slices.SortFunc(cs, bySimDesc)
	s.sel2 = h.selectNeighbours(cs, limit, false, s.sel2[:0])
	row[0] = uint32(len(s.sel2))
	for i, c := range s.sel2 {
		row[1+i] = c.slot
	}
	s.prune = cs
}

func bySimDesc(a, b cand) int {
	switch {
	case a.sim > b.sim:
		return -1
	case a.sim < b.sim:
		return 1
	}
	return int(a.slot) - int(b.slot)
}

// selectNeighbours is the heuristic of Algorithm 4 (without extending or
// keeping pruned candidates): taking candidates best first, keep one only if
// it is closer to the base than to every neighbour kept so far. Dropping
// candidates that an already chosen neighbour covers spreads the edges over
// directions, which keeps clusters connected to each other.
//
// With keepPruned, free places are then filled with the best pruned
// candidates (the paper's keepPrunedConnections). A new node uses it: on
// clustered data the heuristic alone may keep one neighbour, whose back
// link can later be pruned, leaving the node unreachable.
func (g *graph) selectNeighbours(sorted []cand, m int, keepPruned bool, out []cand) []cand {
	for _, c := range sorted {
		if len(out) >= m {
			break
		}
		v := g.vec(c.slot)
		keep := true
		for _, r := range out {
			if dot(v, g.vec(r.slot)) > c.sim {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	if keepPruned && len(out) < m && len(out) < len(sorted) {
		kept := len(out)
		for _, c := range sorted {
			if len(out) >= m {
				break
			}
			if !slices.Contains(out[:kept], c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// searcher is the per-goroutine scratch of one search or insert.
type searcher struct {
	vis    visited
	cands  maxHeap
	res    minHeap
	nbuf   []uint32
	sorted []cand
	chosen [][]cand // per level, while inserting
	sel2   []cand
	prune  []cand
}

func (h *HNSW) searcher() *searcher {
	s, _ := h.scratch.Get().(*searcher)
	if s == nil {
		s = &searcher{}
	}
	return s
}

func (s *searcher) sortedResults() []cand {
	s.sorted = append(s.sorted[:0], s.res...)
	slices.SortFunc(s.sorted, bySimDesc)
	return s.sorted
}

// greedy walks level from cur to the most similar node it can reach,
// never stepping on hole.
func (h *HNSW) greedy(s *searcher, q []float32, cur cand, level int, hole uint32) cand {
	for changed := true; changed; {
		changed = false
		s.nbuf = h.neighbours(cur.slot, level, s.nbuf)
		for _, nb := range s.nbuf {
			if nb == hole {
				continue
			}
			if sim := dot(q, h.vec(nb)); sim > cur.sim {
				cur, changed = cand{sim: sim, slot: nb}, true
			}
		}
	}
	return cur
}

// searchLayer is Algorithm 2: best-first search of one level from ep,
// leaving the ef best nodes found in s.res. Tombstones (when skipDeleted)
// and self are expanded but not collected; hole (noSlot: none) is neither,
// as if it were not in the graph.
func (h *HNSW) searchLayer(s *searcher, q []float32, ep cand, ef, level int, skipDeleted bool, self, hole uint32) {
	s.vis.reset(len(h.ids))
	s.cands, s.res = s.cands[:0], s.res[:0]
	if hole != noSlot {
		s.vis.visit(hole)
	}
	s.vis.visit(ep.slot)
	s.cands.push(ep)
	if ep.slot != self && !(skipDeleted && h.deleted[ep.slot]) {
		s.res.push(ep)
	}
	for len(s.cands) > 0 {
		c := s.cands.pop()
		if len(s.res) >= ef && c.sim < s.res[0].sim {
			break
		}
		s.nbuf = h.neighbours(c.slot, level, s.nbuf)
		for _, nb := range s.nbuf {
			if s.vis.visit(nb) {
				continue
			}
			sim := dot(q, h.vec(nb))
			if len(s.res) >= ef && sim <= s.res[0].sim {
				continue
			}
			s.cands.push(cand{sim: sim, slot: nb})
			if nb == self || (skipDeleted && h.deleted[nb]) {
				continue
			}
			if len(s.res) < ef {
				s.res.push(cand{sim: sim, slot: nb})
			} else {
				s.res.replaceTop(cand{sim: sim, slot: nb})
			}
		}
	}
}

// Search returns up to k live vectors most similar to q, best first,
// exploring ef candidates (ef ≤ 0: EfSearch; never fewer than k).
func (h *HNSW) Search(q []float32, k, ef int) ([]Hit, error) {
	return h.search(q, k, ef, noSlot, 0)
}

// search is Search with the node in slot hole taken out of the graph if
// the graph is still at epoch: the walk neither visits nor expands it, so
// it must reach hole's neighbours by other paths, as a query that was
// never inserted must. Tune measures its stored sample this way.
func (h *HNSW) search(q []float32, k, ef int, hole uint32, epoch uint64) ([]Hit, error) {
	if err := checkDims(h.size, q); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if k <= 0 {
		return nil, nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	e := atomic.LoadUint64(&h.entry)
	if e == noEntry || len(h.slots) == 0 {
		return nil, nil
	}
	if ef <= 0 {
		ef = h.efS
	}
	ef = max(ef, k)
	if h.epoch != epoch {
		hole = noSlot
	}
	s := h.searcher()
	defer h.scratch.Put(s)
	epSlot, epLevel := splitEntry(e)
	if epSlot == hole {
		// Enter through the hole's first neighbour on the highest level
		// that has one.
		for ; epLevel >= 0; epLevel-- {
			if nb := h.neighbours(hole, epLevel, s.nbuf); len(nb) > 0 {
				epSlot = nb[0]
				break
			}
		}
		if epLevel < 0 {
			return nil, nil // the hole was the only node
		}
	}
	cur := cand{sim: dot(q, h.vec(epSlot)), slot: epSlot}
	for l := epLevel; l > 0; l-- {
		cur = h.greedy(s, q, cur, l, hole)
	}
	h.searchLayer(s, q, cur, ef, 0, true, noSlot, hole)
	found := s.sortedResults()
	hits := make([]Hit, min(k, len(found)))
	for i := range hits {
		hits[i] = Hit{ID: h.ids[found[i].slot], Score: found[i].sim}
	}
	return hits, nil
}

// Delete tombstones id and reports whether it was present. When tombstones
// exceed 20% of the nodes, the graph is rebuilt before Delete returns.
func (h *HNSW) Delete(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.slots[id]
	if !ok {
		return false
	}
	delete(h.slots, id)
	h.deleted[s] = true
	h.ndeleted++
	h.maybeCompactLocked()
	return true
}

func (h *HNSW) maybeCompactLocked() {
	if float64(h.ndeleted) > compactRatio*float64(len(h.ids)) {
		h.compactLocked()
	}
}

// compactLocked rebuilds the graph from the live nodes, in slot order, into
// a private HNSW (whose AddBatch links in parallel) and takes its state.
func (h *HNSW) compactLocked() {
	live := len(h.slots)
	ids := make([]uint64, 0, live)
	vecs := make([][]float32, 0, live)
	for s, id := range h.ids {
		if !h.deleted[s] {
			ids = append(ids, id)
			vecs = append(vecs, h.vec(uint32(s)))
		}
	}
	seed := h.rng.Uint64()
	fresh := &HNSW{size: h.size}
	fresh.graph = newGraph(h.dims, h.m, h.efC, h.efBase, rand.NewPCG(seed, 0x5eed))
	fresh.insertBatch(ids, vecs)
	// The rebuilt graph holds the same vectors: the tuning still holds.
	fresh.efS, fresh.tuning = h.efS, h.tuning
	// The old vectors were copied into fresh: its memory map can go.
	old := h.mapped
	h.graph = fresh.graph
	h.epoch++
	old.drop()
}

package index

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync/atomic"
)

const hnswMagic = "SSIXHNSW"

// hnswVersion 2 added the tuning after the efs; version 1 snapshots still
// load, untuned (Search uses EfSearch until Tune runs).
const hnswVersion = 2

// Save writes the graph: header (dims, M, efs, tuning: ef, recall, size,
// target; level-generator state, node count, entry point), then ids, levels, tombstones, vectors, level-0
// lists, upper-level lists and a checksum. It holds the write lock only to
// copy the neighbour lists, which inserts may change.
func (h *HNSW) Save(w io.Writer) error {
	h.mu.Lock()
	g := &h.graph
	n := len(g.ids)
	ids, levels, vecs := g.ids[:n:n], g.levels[:n:n], g.vecs[:n*g.dims:n*g.dims]
	deleted := make([]byte, n)
	for i, d := range g.deleted {
		if d {
			deleted[i] = 1
		}
	}
	links0 := slices32(g.links0)
	var upper []uint32
	for _, u := range g.upper {
		upper = append(upper, u...)
	}
	state, err := g.pcg.MarshalBinary()
	dims, m, efC, efS, tuning, entry := g.dims, g.m, g.efC, g.efBase, g.tuning, atomic.LoadUint64(&g.entry)
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save hnsw index: %w", err)
	}

	e := newEncoder(w, hnswMagic, hnswVersion)
	e.u32(uint32(dims))
	e.u32(uint32(m))
	e.u32(uint32(efC))
	e.u32(uint32(efS))
	e.u32(uint32(tuning.Ef))
	e.u64(math.Float64bits(tuning.Recall))
	e.u64(uint64(tuning.Size))
	e.u64(math.Float64bits(tuning.Target))
	e.u32(uint32(len(state)))
	e.write(state)
	e.u64(uint64(n))
	e.u64(entry)
	e.uint64s(ids)
	e.write(levels)
	e.write(deleted)
	e.float32s(vecs)
	e.uint32s(links0)
	e.u64(uint64(len(upper)))
	e.uint32s(upper)
	if err := e.finish(); err != nil {
		return fmt.Errorf("save hnsw index: %w", err)
	}
	return nil
}

func slices32(s []uint32) []uint32 { return append([]uint32(nil), s...) }

// Load replaces the graph with one written by Save, including its M, ef
// and generator state. The saved dimension must equal the index's. Every
// count and neighbour is checked before use; on error the index is
// unchanged.
func (h *HNSW) Load(r io.Reader) error {
	g, err := h.decode(r)
	if err != nil {
		return fmt.Errorf("load hnsw index: %w", err)
	}
	h.mu.Lock()
	h.graph = g
	h.epoch++
	h.mu.Unlock()
	return nil
}

func (h *HNSW) decode(r io.Reader) (graph, error) {
	d, err := newDecoder(r, hnswMagic, hnswVersion)
	if err != nil {
		return graph{}, err
	}
	dims, m, efC, efS := d.u32(), d.u32(), d.u32(), d.u32()
	var t Tuning
	if d.version >= 2 {
		ef, recall, size, target := d.u32(), math.Float64frombits(d.u64()), d.u64(), math.Float64frombits(d.u64())
		if d.err == nil && size > 0 {
			if ef < 1 || ef > maxEf || !(recall >= 0 && recall <= 1) || !(target > 0 && target <= 1) || size > maxSlots {
				return graph{}, corrupt("tuning ef=%d recall=%g size=%d target=%g", ef, recall, size, target)
			}
			t = Tuning{Ef: int(ef), Recall: recall, Size: int(size), Target: target}
		}
	}
	stateLen := d.u32()
	if d.err != nil {
		return graph{}, d.fail()
	}
	if int(dims) != h.size {
		return graph{}, fmt.Errorf("saved with %d dims, index has %d: %w", dims, h.size, ErrDims)
	}
	if m < 2 || m > maxM || efC < 1 || efC > maxEf || efS < 1 || efS > maxEf || stateLen > 64 {
		return graph{}, corrupt("parameters M=%d efConstruction=%d efSearch=%d", m, efC, efS)
	}
	state := d.bytes(int(stateLen))
	n64, entry := d.u64(), d.u64()
	if d.err != nil {
		return graph{}, d.fail()
	}
	if n64 > maxSlots {
		return graph{}, corrupt("%d nodes", n64)
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(state); err != nil {
		return graph{}, corrupt("level generator state")
	}
	g := newGraph(h.size, int(m), int(efC), int(efS), pcg)
	if t.Size > 0 {
		g.efS, g.tuning = t.Ef, t
	}
	n := int(n64)
	g.ids = d.uint64s(n)
	g.levels = d.bytes(n)
	deleted := d.bytes(n)
	g.vecs = d.float32s(n * g.dims)
	g.links0 = d.uint32s(n * (g.m0 + 1))
	nUpper := d.u64()
	if d.err != nil {
		return graph{}, d.fail()
	}
	var want uint64
	for _, l := range g.levels {
		if l > maxLevel {
			return graph{}, corrupt("level %d", l)
		}
		want += uint64(l) * uint64(g.m+1)
	}
	if nUpper != want {
		return graph{}, corrupt("%d upper-level links, levels need %d", nUpper, want)
	}
	upper := d.uint32s(int(nUpper))
	if err := d.finish(); err != nil {
		return graph{}, err
	}
	if err := g.adopt(deleted, upper, entry); err != nil {
		return graph{}, err
	}
	return g, nil
}

// adopt checks the decoded graph so that no search can index out of range,
// and builds the derived state (tombstones, id map, upper lists).
func (g *graph) adopt(deleted []byte, upper []uint32, entry uint64) error {
	n := len(g.ids)
	g.deleted = make([]bool, n)
	g.slots = make(map[uint64]uint32, n) // ids are read, so n is real
	for s, id := range g.ids {
		switch deleted[s] {
		case 0:
			if _, dup := g.slots[id]; dup {
				return corrupt("live id %d twice", id)
			}
			g.slots[id] = uint32(s)
		case 1:
			g.deleted[s] = true
			g.ndeleted++
		default:
			return corrupt("tombstone flag %d", deleted[s])
		}
	}
	checkRow := func(row []uint32, limit, level int) error {
		if int(row[0]) > limit {
			return corrupt("%d neighbours, limit %d", row[0], limit)
		}
		for _, nb := range row[1 : 1+row[0]] {
			if int(nb) >= n || int(g.levels[nb]) < level {
				return corrupt("neighbour %d at level %d", nb, level)
			}
		}
		return nil
	}
	for s := range n {
		if err := checkRow(g.links0[s*(g.m0+1):(s+1)*(g.m0+1)], g.m0, 0); err != nil {
			return err
		}
	}
	g.upper = make([][]uint32, n)
	for s, l := range g.levels {
		if l == 0 {
			continue
		}
		size := int(l) * (g.m + 1)
		g.upper[s], upper = upper[:size:size], upper[size:]
		for lv := 1; lv <= int(l); lv++ {
			if err := checkRow(g.list(uint32(s), lv), g.m, lv); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		if entry != noEntry {
			return corrupt("entry point in an empty graph")
		}
		return nil
	}
	slot, level := splitEntry(entry)
	if int(slot) >= n || entry>>32 > maxLevel || int(g.levels[slot]) != level {
		return corrupt("entry point %d at level %d", slot, level)
	}
	g.entry = entry
	return nil
}

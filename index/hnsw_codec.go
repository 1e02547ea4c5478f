package index

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

const hnswMagic = "SSIXHNSW"

// hnswVersion 2 added the tuning after the efs; version 1 snapshots still
// load, untuned (Search uses EfSearch until Tune runs). Version 3
// (hnswAlignedVersion, SaveAligned) is version 2 with zeros before each
// bulk array so that it starts at a multiple of 64 bytes, for LoadFile to
// use in place; Save still writes version 2, which binaries from before
// version 3 read.
const (
	hnswVersion        = 2
	hnswAlignedVersion = 3
)

// errNoMap says a file is not mapped here; LoadFile then reads it.
var errNoMap = errors.New("memory maps are not used on this system")

// Save writes the graph in format version 2: header (dims, M, efs,
// tuning: ef, recall, size, target; level-generator state, node count,
// entry point), then ids, levels, tombstones, vectors, level-0 lists,
// upper-level lists and a checksum. It holds the write lock only to
// copy the neighbour lists, which inserts may change.
func (h *HNSW) Save(w io.Writer) error { return h.save(w, hnswVersion) }

// SaveAligned writes the graph as Save does, in format version 3, whose
// bulk arrays each start at a multiple of 64 bytes from the magic, so that
// LoadFile uses them in place from a memory map of the file (placed at a
// file offset that is a multiple of 64). Load reads version 3 too;
// binaries from before it do not.
func (h *HNSW) SaveAligned(w io.Writer) error { return h.save(w, hnswAlignedVersion) }

func (h *HNSW) save(w io.Writer, version uint32) error {
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
	// ids and vecs may lie in a memory map, which a Load or compaction
	// meanwhile must not unmap.
	mapped := g.mapped
	mapped.borrow()
	h.mu.Unlock()
	defer mapped.release()
	if err != nil {
		return fmt.Errorf("save hnsw index: %w", err)
	}

	aligned := version >= hnswAlignedVersion
	align := func(e *encoder) {
		if aligned {
			e.align()
		}
	}
	e := newEncoder(w, hnswMagic, version)
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
	align(e)
	e.uint64s(ids)
	e.write(levels)
	e.write(deleted)
	align(e)
	e.float32s(vecs)
	align(e)
	e.uint32s(links0)
	e.u64(uint64(len(upper)))
	align(e)
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
	d, err := newDecoder(r, hnswMagic, hnswAlignedVersion)
	if err != nil {
		return fmt.Errorf("load hnsw index: %w", err)
	}
	g, err := h.decode(d)
	if err != nil {
		return fmt.Errorf("load hnsw index: %w", err)
	}
	h.replace(g)
	return nil
}

// LoadFile loads the snapshot that fills f from offset off to its end, as
// Load does, but on Linux it maps the file instead of reading it: the ids,
// vectors and neighbour lists of a snapshot that SaveAligned wrote (at an
// offset that is a multiple of 64) are used in place, so a fresh process
// neither allocates nor copies them. The checksum and every neighbour are
// still checked, which reads each page once, from the page cache: at
// 100k 512-d vectors (209 MiB) about 40 ms with 3.4k page faults, against
// about 170 ms and 55k faults for Load, most of which is the kernel
// handing out fresh memory (docs/design.md). Inserts copy the pages they
// change or move the arrays to the Go heap; the file is never written.
// It must not be changed in place while the index lives (a truncated file
// faults on access): replace it by renaming a new one over it. Elsewhere,
// and for a file that cannot be mapped, LoadFile reads it as Load does.
// On error the index is unchanged.
func (h *HNSW) LoadFile(f *os.File, off int64) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("load hnsw index: %w", err)
	}
	size := fi.Size()
	if off < 0 || off > size {
		return fmt.Errorf("load hnsw index: offset %d in a file of %d bytes: %w", off, size, ErrCorrupt)
	}
	mem, err := mapFile(f, size)
	if err != nil { // errNoMap, or a file system that does not map
		return h.Load(io.NewSectionReader(f, off, size-off))
	}
	m := newMapping(mem)
	g, inPlace, err := h.decodeMem(mem[off:])
	if err != nil {
		m.drop()
		return fmt.Errorf("load hnsw index: %w", err)
	}
	if !inPlace {
		m.drop()
	} else {
		g.mapped = m
		runtime.AddCleanup(h, (*mapping).drop, m)
	}
	h.replace(g)
	return nil
}

// decodeMem decodes the snapshot that fills mem, reporting whether the
// graph uses mem in place. A memory fault while it reads (a mapped file
// cut short under it by someone else) is ErrCorrupt, not a crash; after
// that, the file must stay whole (see LoadFile).
func (h *HNSW) decodeMem(mem []byte) (g graph, inPlace bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			g, inPlace, err = graph{}, false, corrupt("memory fault reading the snapshot: %v", r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	d, err := newMemDecoder(mem, hnswMagic, hnswAlignedVersion)
	if err != nil {
		return graph{}, false, err
	}
	g, err = h.decode(d)
	if err != nil {
		return graph{}, false, err
	}
	if extra := int64(len(mem)) - d.pos - 4; extra != 0 {
		return graph{}, false, corrupt("%d bytes after the checksum", extra)
	}
	return g, d.inPlace, nil
}

// replace makes g the graph. Searches hold the read lock, so none still
// reads the old graph's arrays once the write lock is had; its memory
// map, if any, goes when a Save still writing from it is done.
func (h *HNSW) replace(g graph) {
	h.mu.Lock()
	old := h.mapped
	h.graph = g
	h.epoch++
	h.mu.Unlock()
	old.drop()
}

func (h *HNSW) decode(d *decoder) (graph, error) {
	aligned := d.version >= hnswAlignedVersion
	align := func() {
		if aligned {
			d.align()
		}
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
	align()
	g.ids = d.uint64s(n)
	g.levels = d.bytes(n)
	deleted := d.bytes(n)
	align()
	g.vecs = d.float32s(n * g.dims)
	align()
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
	align()
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

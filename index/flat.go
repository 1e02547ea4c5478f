package index

import (
	"fmt"
	"io"
	"runtime"
	"sync"
)

const flatMagic = "SSIXFLAT"

// flatParallelMin is the number of vectors from which Flat.Search splits the
// scan over GOMAXPROCS goroutines; below it the goroutine start-up costs
// more than it saves (BenchmarkFlatSearch).
const flatParallelMin = 8192

// Flat is an exact index: Search scores every vector. Vectors live in one
// contiguous slab; a delete moves the last vector into the hole, so the slab
// never has gaps. Flat is safe for concurrent use.
type Flat struct {
	dims int

	mu    sync.RWMutex
	vecs  []float32 // len(ids)*dims
	ids   []uint64
	slots map[uint64]uint32
}

var _ Index = (*Flat)(nil)

// NewFlat returns an empty exact index for vectors of dims dimensions.
func NewFlat(dims int) *Flat {
	return &Flat{dims: dims, slots: make(map[uint64]uint32)}
}

// Dims is the vector dimension fixed at construction.
func (f *Flat) Dims() int { return f.dims }

// Add stores v (copied) under id, replacing the vector of an existing id.
func (f *Flat) Add(id uint64, v []float32) error {
	if err := checkDims(f.dims, v); err != nil {
		return fmt.Errorf("add %d: %w", id, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.slots[id]; ok {
		copy(f.vecs[int(s)*f.dims:], v)
		return nil
	}
	f.slots[id] = uint32(len(f.ids))
	f.ids = append(f.ids, id)
	f.vecs = append(f.vecs, v...)
	return nil
}

// Delete removes id and reports whether it was present.
func (f *Flat) Delete(id uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.slots[id]
	if !ok {
		return false
	}
	delete(f.slots, id)
	last := len(f.ids) - 1
	if int(s) != last {
		moved := f.ids[last]
		f.ids[s] = moved
		f.slots[moved] = s
		copy(f.vecs[int(s)*f.dims:(int(s)+1)*f.dims], f.vecs[last*f.dims:])
	}
	f.ids = f.ids[:last]
	f.vecs = f.vecs[:last*f.dims]
	return true
}

// Len is the number of vectors.
func (f *Flat) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.ids)
}

// Search returns the k vectors most similar to q, best first. ef is ignored.
func (f *Flat) Search(q []float32, k, ef int) ([]Hit, error) {
	if err := checkDims(f.dims, q); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if k <= 0 {
		return nil, nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := len(f.ids)
	parts := runtime.GOMAXPROCS(0)
	if n < flatParallelMin || parts == 1 {
		t := topK{k: k}
		f.scan(q, 0, n, &t)
		return f.hits(t.sorted()), nil
	}
	tops := make([]topK, parts)
	var wg sync.WaitGroup
	for p := range parts {
		tops[p].k = k
		wg.Go(func() { f.scan(q, p*n/parts, (p+1)*n/parts, &tops[p]) })
	}
	wg.Wait()
	all := topK{k: k}
	for _, t := range tops {
		for _, c := range t.h {
			all.offer(c)
		}
	}
	return f.hits(all.sorted()), nil
}

func (f *Flat) scan(q []float32, from, to int, t *topK) {
	d := f.dims
	for s := from; s < to; s++ {
		t.offer(cand{sim: dot(q, f.vecs[s*d:(s+1)*d]), slot: uint32(s)})
	}
}

func (f *Flat) hits(cs []cand) []Hit {
	out := make([]Hit, len(cs))
	for i, c := range cs {
		out[i] = Hit{ID: f.ids[c.slot], Score: c.sim}
	}
	return out
}

// Save writes the index: header, ids, vectors, checksum.
func (f *Flat) Save(w io.Writer) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := newEncoder(w, flatMagic, formatVersion)
	e.u32(uint32(f.dims))
	e.u64(uint64(len(f.ids)))
	e.uint64s(f.ids)
	e.float32s(f.vecs)
	if err := e.finish(); err != nil {
		return fmt.Errorf("save flat index: %w", err)
	}
	return nil
}

// Load replaces the contents with an index written by Save. The saved
// dimension must equal the index's. On error the index is unchanged.
func (f *Flat) Load(r io.Reader) error {
	if err := f.load(r); err != nil {
		return fmt.Errorf("load flat index: %w", err)
	}
	return nil
}

func (f *Flat) load(r io.Reader) error {
	d, err := newDecoder(r, flatMagic, formatVersion)
	if err != nil {
		return err
	}
	dims, n := d.u32(), d.u64()
	if d.err != nil {
		return d.fail()
	}
	if int(dims) != f.dims {
		return fmt.Errorf("saved with %d dims, index has %d: %w", dims, f.dims, ErrDims)
	}
	if n > maxSlots {
		return corrupt("%d vectors", n)
	}
	ids := d.uint64s(int(n))
	vecs := d.float32s(int(n) * f.dims)
	if err := d.finish(); err != nil {
		return err
	}
	slots := make(map[uint64]uint32, len(ids))
	for i, id := range ids {
		if _, dup := slots[id]; dup {
			return corrupt("id %d twice", id)
		}
		slots[id] = uint32(i)
	}
	f.mu.Lock()
	f.ids, f.vecs, f.slots = ids, vecs, slots
	f.mu.Unlock()
	return nil
}

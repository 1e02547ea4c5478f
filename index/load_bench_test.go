package index

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// syntheticGraph returns an HNSW of n random unit vectors whose neighbour
// lists are random but valid (levels drawn as an insert would), so a
// snapshot of the size of a real 100k index is made in a second instead
// of the minutes a build takes. Only Load's cost is measured with it.
func syntheticGraph(n, dims int) *HNSW {
	h := NewHNSW(dims, nil)
	g := &h.graph
	rng := rand.New(rand.NewPCG(3, 4))
	g.vecs = make([]float32, n*dims)
	for i := range g.vecs {
		g.vecs[i] = rng.Float32()
	}
	g.ids = make([]uint64, n)
	g.levels = make([]uint8, n)
	g.deleted = make([]bool, n)
	g.links0 = make([]uint32, n*(g.m0+1))
	g.upper = make([][]uint32, n)
	top := 0
	for s := range n {
		g.ids[s] = uint64(s) * 7
		g.slots[g.ids[s]] = uint32(s)
		l := min(int(-math.Log(1-rng.Float64())*g.mL), maxLevel)
		g.levels[s] = uint8(l)
		if l > top || s == 0 {
			top = l
			g.entry = uint64(l)<<32 | uint64(s)
		}
	}
	byLevel := make([][]uint32, maxLevel+1)
	for s, l := range g.levels {
		for lv := 0; lv <= int(l); lv++ {
			byLevel[lv] = append(byLevel[lv], uint32(s))
		}
	}
	fill := func(row []uint32, limit int, pool []uint32) {
		k := min(limit, len(pool))
		row[0] = uint32(k)
		for i := range k {
			row[1+i] = pool[rng.IntN(len(pool))]
		}
	}
	for s := range n {
		fill(g.links0[s*(g.m0+1):(s+1)*(g.m0+1)], g.m0, byLevel[0])
		if l := int(g.levels[s]); l > 0 {
			g.upper[s] = make([]uint32, l*(g.m+1))
			for lv := 1; lv <= l; lv++ {
				fill(g.upper[s][(lv-1)*(g.m+1):lv*(g.m+1)], g.m, byLevel[lv])
			}
		}
	}
	return h
}

// BenchmarkLoadSnapshot loads a synthetic index of 100,000 512-d vectors
// from a file and from memory, and maps one (LoadFile). In one process
// the Go heap reuses the memory of earlier loads, so Load looks cheaper
// here than in a fresh process, where faulting in new memory is most of
// its cost (docs/design.md); time a fresh process for that.
func BenchmarkLoadSnapshot(b *testing.B) {
	const n, dims = 100_000, 512
	g := syntheticGraph(n, dims)
	var buf, aligned bytes.Buffer
	if err := g.Save(&buf); err != nil {
		b.Fatal(err)
	}
	if err := g.SaveAligned(&aligned); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "hnsw.idx")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	mapped := filepath.Join(b.TempDir(), "hnsw.aligned")
	if err := os.WriteFile(mapped, aligned.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("mapped/n=%d", n), func(b *testing.B) {
		b.SetBytes(int64(aligned.Len()))
		for b.Loop() {
			f, err := os.Open(mapped)
			if err != nil {
				b.Fatal(err)
			}
			h := NewHNSW(dims, nil)
			if err := h.LoadFile(f, 0); err != nil {
				b.Fatal(err)
			}
			f.Close()
			h.replace(graph{}) // unmaps now, not when the GC runs
		}
	})
	b.Run(fmt.Sprintf("file/n=%d", n), func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := NewHNSW(dims, nil).Load(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run(fmt.Sprintf("bytes/n=%d", n), func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			if err := NewHNSW(dims, nil).Load(bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

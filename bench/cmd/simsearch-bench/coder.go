package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/coder/hnsw"

	"github.com/simsearch/simsearch/index"
)

// coderGraph adapts github.com/coder/hnsw v0.6.1 (add and search only: it
// has no locking and panics on a re-added key).
type coderGraph struct{ g *hnsw.Graph[uint64] }

func (c coderGraph) Search(q []float32, k, ef int) ([]index.Hit, error) {
	c.g.EfSearch = ef
	nodes := c.g.Search(q, k)
	hits := make([]index.Hit, len(nodes))
	for i, n := range nodes {
		hits[i] = index.Hit{ID: n.Key, Score: 1 - hnsw.CosineDistance(q, n.Value)}
	}
	return hits, nil
}

// coderImpl is github.com/coder/hnsw, a dependency of this module only
// (the library's go.mod does not carry it). It has no efConstruction: its
// EfSearch is used while inserting, so it is set to ours (200) for the
// build.
func coderImpl() annImpl {
	return annImpl{
		name: "coder/hnsw v0.6.1",
		efs:  indexEfs,
		note: fmt.Sprintf("M=%d, EfSearch=%d while building (it has no efConstruction), one goroutine (no locking)", index.DefaultM, index.DefaultEfConstruction),
		build: func(base [][]float32) (searcher, error) {
			g := hnsw.NewGraph[uint64]()
			g.M = index.DefaultM
			g.EfSearch = index.DefaultEfConstruction
			for i, v := range base {
				g.Add(hnsw.MakeNode(uint64(i), v))
			}
			return coderGraph{g}, nil
		},
		save: func(s searcher, w io.Writer) error { return s.(coderGraph).g.Export(w) },
		load: func(r io.Reader) (searcher, error) {
			g := hnsw.NewGraph[uint64]()
			return coderGraph{g}, g.Import(bufio.NewReader(r))
		},
	}
}

//go:build compare

package index_test

import (
	"fmt"
	"testing"

	"github.com/coder/hnsw"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// coderGraph adapts github.com/coder/hnsw v0.6.1 to the benchmark's use
// (add and search only: it has no locking and panics on a re-added key).
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

// BenchmarkCompare measures recall@10 and query latency of our HNSW and of
// coder/hnsw on the same clustered data, at the same M and ef, so the
// reason for writing our own stays reproducible:
//
//	go test -tags compare -run '^$' -bench Compare ./index/
func BenchmarkCompare(b *testing.B) {
	s := loadBenchSet(b, true)
	g := hnsw.NewGraph[uint64]()
	g.M = index.DefaultM
	for i, v := range s.base {
		g.Add(hnsw.MakeNode(uint64(i), v))
	}
	type searcher interface {
		Search(q []float32, k, ef int) ([]index.Hit, error)
	}
	impls := []struct {
		name string
		idx  searcher
	}{{"simsearch", s.hnsw}, {"coder-hnsw", coderGraph{g}}}
	for _, ef := range []int{32, 64, 256} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("%s/n=%d/ef=%d", im.name, len(s.base), ef), func(b *testing.B) {
				var sum float64
				for qi, q := range s.queries {
					hits, _ := im.idx.Search(q, benchK, ef)
					got := make([]int, len(hits))
					for i, h := range hits {
						got[i] = int(h.ID)
					}
					sum += indextest.Recall(s.truth[qi], got)
				}
				i := 0
				for b.Loop() {
					im.idx.Search(s.queries[i%len(s.queries)], benchK, ef)
					i++
				}
				b.ReportMetric(sum/float64(len(s.queries)), "recall@10")
			})
		}
	}
}

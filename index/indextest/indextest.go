// Package indextest generates reproducible vector sets for tests and
// benchmarks of nearest-neighbour indexes, and computes their exact
// answers. It is test support: production code should not import it.
//
// Example:
//
//	data := indextest.Clustered(20000+100, 512, 1)
//	base, queries := data[:20000], data[20000:]
//	truth := indextest.TopK(base, queries, 10)
//	// ... search an index for each query, then:
//	r := indextest.Recall(truth[i], gotIDs)
package indextest

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/simsearch/simsearch/index"
)

// Centres and Spread shape Clustered: points are a random centre plus
// Gaussian noise of Spread per dimension times 1/√dims, so the noise has
// about Spread times the length of the (unit) centre.
const (
	Centres = 200
	Spread  = 0.6
)

// Clustered returns n L2-normalised vectors of dims dimensions drawn around
// Centres Gaussian cluster centres, reproducible from seed. The vectors
// share one backing slab. The i-th point belongs to cluster i % Centres,
// so any prefix and any suffix cover all clusters: take the base set and
// the queries from one call.
func Clustered(n, dims int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0xc1057e4))
	centres := make([][]float32, Centres)
	for c := range centres {
		centres[c] = gaussian(rng, dims, 1)
		index.Normalize(centres[c])
	}
	sigma := Spread / math.Sqrt(float64(dims))
	slab := make([]float32, n*dims)
	out := make([][]float32, n)
	for i := range out {
		v := slab[i*dims : (i+1)*dims : (i+1)*dims]
		for j, c := range centres[i%Centres] {
			v[j] = c + float32(rng.NormFloat64()*sigma)
		}
		index.Normalize(v)
		out[i] = v
	}
	return out
}

// Uniform returns n L2-normalised vectors with independent Gaussian
// components: uniformly spread on the sphere, the hard case for graphs.
func Uniform(n, dims int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0x0f1a7))
	out := make([][]float32, n)
	for i := range out {
		out[i] = gaussian(rng, dims, 1)
		index.Normalize(out[i])
	}
	return out
}

func gaussian(rng *rand.Rand, dims int, sigma float64) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(rng.NormFloat64() * sigma)
	}
	return v
}

// TopK returns, for each query, the indexes into base of its k most
// similar vectors by dot product, best first (ties by lower index). It is
// exact and parallel over the cores.
func TopK(base, queries [][]float32, k int) [][]int {
	out := make([][]int, len(queries))
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			type scored struct {
				i   int
				sim float32
			}
			all := make([]scored, len(base))
			for qi := range work {
				q := queries[qi]
				for i, b := range base {
					var s float32
					for j, x := range q {
						s += x * b[j]
					}
					all[i] = scored{i, s}
				}
				slices.SortFunc(all, func(a, b scored) int {
					switch {
					case a.sim > b.sim:
						return -1
					case a.sim < b.sim:
						return 1
					}
					return a.i - b.i
				})
				top := make([]int, min(k, len(all)))
				for r := range top {
					top[r] = all[r].i
				}
				out[qi] = top
			}
		})
	}
	for qi := range queries {
		work <- qi
	}
	close(work)
	wg.Wait()
	return out
}

// Recall is the share of want found in got.
func Recall[T comparable](want, got []T) float64 {
	if len(want) == 0 {
		return 1
	}
	seen := make(map[T]bool, len(got))
	for _, g := range got {
		seen[g] = true
	}
	hit := 0
	for _, w := range want {
		if seen[w] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

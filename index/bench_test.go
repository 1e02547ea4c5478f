package index_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// benchN sets the size of the benchmark data set:
// go test -bench . -index.n 100000 ./index/
var benchN = flag.Int("index.n", 20000, "vectors in the index benchmarks (the issue's targets use 100000)")

const (
	benchDims    = 512
	benchQueries = 200
	benchK       = 10
)

// benchSet is the data, exact answers and a built graph, made once per
// size and shared by the benchmarks, because the build alone takes a minute
// at 100k on two cores.
type benchSet struct {
	base, queries [][]float32
	truth         [][]int
	hnsw          *index.HNSW
	buildTime     time.Duration
}

var (
	benchMu   sync.Mutex
	benchSets = map[int]*benchSet{}
)

func loadBenchSet(b *testing.B, withGraph bool) *benchSet {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	n := *benchN
	s := benchSets[n]
	if s == nil {
		data := indextest.Clustered(n+benchQueries, benchDims, 42)
		s = &benchSet{base: data[:n], queries: data[n:]}
		s.truth = indextest.TopK(s.base, s.queries, benchK)
		benchSets[n] = s
	}
	if withGraph && s.hnsw == nil {
		start := time.Now()
		s.hnsw = buildHNSW(b, s.base)
		s.buildTime = time.Since(start)
		b.Logf("built HNSW of %d vectors in %v: %.0f vectors/s", n, s.buildTime.Round(time.Millisecond), float64(n)/s.buildTime.Seconds())
	}
	return s
}

func buildHNSW(b *testing.B, base [][]float32) *index.HNSW {
	b.Helper()
	h := index.NewHNSW(benchDims, nil)
	ids := make([]uint64, len(base))
	for i := range ids {
		ids[i] = uint64(i)
	}
	if err := h.AddBatch(ids, base); err != nil {
		b.Fatal(err)
	}
	return h
}

func recallOf(b *testing.B, s *benchSet, idx index.Index, ef int) float64 {
	b.Helper()
	var sum float64
	for qi, q := range s.queries {
		hits, err := idx.Search(q, benchK, ef)
		if err != nil {
			b.Fatal(err)
		}
		got := make([]int, len(hits))
		for i, h := range hits {
			got[i] = int(h.ID)
		}
		sum += indextest.Recall(s.truth[qi], got)
	}
	return sum / float64(len(s.queries))
}

// timeQueries runs one query per iteration and reports the median latency.
func timeQueries(b *testing.B, s *benchSet, idx index.Index, ef int) {
	b.Helper()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := idx.Search(s.queries[i%len(s.queries)], benchK, ef); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

func BenchmarkHNSWSearch(b *testing.B) {
	s := loadBenchSet(b, true)
	for _, ef := range []int{16, 32, 64, 128, 256} {
		b.Run(fmt.Sprintf("n=%d/ef=%d", len(s.base), ef), func(b *testing.B) {
			r := recallOf(b, s, s.hnsw, ef)
			timeQueries(b, s, s.hnsw, ef)
			b.ReportMetric(r, "recall@10") // after b.Loop, which resets metrics
		})
	}
}

func BenchmarkFlatSearch(b *testing.B) {
	s := loadBenchSet(b, false)
	f := index.NewFlat(benchDims)
	for i, v := range s.base {
		if err := f.Add(uint64(i), v); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("n=%d", len(s.base)), func(b *testing.B) {
		r := recallOf(b, s, f, 0)
		timeQueries(b, s, f, 0)
		b.ReportMetric(r, "recall@10")
	})
}

// BenchmarkHNSWBuild builds the whole graph per iteration with AddBatch
// over GOMAXPROCS goroutines (-cpu sets how many).
func BenchmarkHNSWBuild(b *testing.B) {
	s := loadBenchSet(b, false)
	b.Run(fmt.Sprintf("n=%d", len(s.base)), func(b *testing.B) {
		for b.Loop() {
			buildHNSW(b, s.base)
		}
		b.ReportMetric(float64(len(s.base))*float64(b.N)/b.Elapsed().Seconds(), "vectors/s")
	})
}

// BenchmarkLoad opens a saved index from a file, as a program start does.
func BenchmarkLoad(b *testing.B) {
	s := loadBenchSet(b, true)
	path := filepath.Join(b.TempDir(), "hnsw.idx")
	var buf bytes.Buffer
	if err := s.hnsw.Save(&buf); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("HNSW/n=%d", len(s.base)), func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := index.NewHNSW(benchDims, nil).Load(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

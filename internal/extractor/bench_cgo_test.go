//go:build cgo

package extractor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// benchModel builds vgg16-random once per benchmark binary.
var benchModel = struct {
	once sync.Once
	spec model.Spec
	err  error
	dir  string
}{}

func vgg16Random(b testing.TB) model.Spec {
	b.Helper()
	benchModel.once.Do(func() {
		// Not b.TempDir: that goes with the first benchmark, the model is
		// shared by all of them.
		dir, err := os.MkdirTemp("", "simsearch-bench-models-")
		if err != nil {
			benchModel.err = err
			return
		}
		benchModel.dir = dir
		e, _ := model.Lookup("vgg16-random")
		benchModel.spec, benchModel.err = model.BuildRandom(dir, e)
	})
	if benchModel.err != nil {
		b.Fatal(benchModel.err)
	}
	return benchModel.spec
}

var benchShapes = []struct{ threads, batch int }{{1, 1}, {1, 8}, {1, 16}, {2, 1}, {2, 8}, {2, 16}}

// BenchmarkSession is the raw ONNX Runtime throughput of the VGG16 trunk:
// preprocessed input already in memory, nothing else.
func BenchmarkSession(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec := vgg16Random(b)
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("threads=%d/batch=%d", s.threads, s.batch), func(b *testing.B) {
			sess, err := rt.NewSession(spec, &SessionOptions{Threads: s.threads})
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			in := make([]float32, s.batch*3*224*224)
			for i := range in {
				in[i] = float32(i%251) / 251
			}
			if _, err := sess.Run(in, s.batch); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := sess.Run(in, s.batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*s.batch)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// BenchmarkFiles is the whole pipeline on the sample photos (JPEG files
// on disk: read, decode, orient, resize, normalise, network, pool) with
// the same threads and batch as BenchmarkSession, for the ratio.
func BenchmarkFiles(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec := vgg16Random(b)
	paths, err := filepath.Glob("../../testdata/photos/*.jpg")
	if err != nil || len(paths) == 0 {
		b.Fatal("no sample photos", err)
	}
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("threads=%d/batch=%d", s.threads, s.batch), func(b *testing.B) {
			ex, err := New(rt, spec, &Options{Raw: true, Threads: s.threads, Batch: s.batch})
			if err != nil {
				b.Fatal(err)
			}
			defer ex.Close()
			n := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := ex.Files(context.Background(), paths, func(r Result) error {
					if r.Err != nil {
						return r.Err
					}
					n++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

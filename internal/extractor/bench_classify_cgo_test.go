//go:build cgo

package extractor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// benchClassifier builds VGG16 with its 4096-4096-1000 top (random
// weights, 553 MB) once per benchmark binary.
var benchClassifier = struct {
	once sync.Once
	spec model.Spec
	err  error
}{}

func vgg16WithTop(b *testing.B) model.Spec {
	b.Helper()
	benchClassifier.once.Do(func() {
		dir, err := os.MkdirTemp("", "simsearch-bench-vgg16top-")
		if err != nil {
			benchClassifier.err = err
			return
		}
		v, err := onnx.NewVGG(onnx.VGG16Config(true))
		if err != nil {
			benchClassifier.err = err
			return
		}
		path := filepath.Join(dir, "vgg16-top.onnx")
		if benchClassifier.err = onnx.WriteModel(path, v.Model); benchClassifier.err != nil {
			return
		}
		benchClassifier.spec = model.Spec{
			Name: "vgg16-top", Path: path, Input: "data", Output: v.Feature.Name,
			Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
			Pre: model.TorchPreprocess(224), Pooling: model.GAP, Random: true,
			Logits: v.Output, Classes: 1000,
		}
	})
	if benchClassifier.err != nil {
		b.Fatal(benchClassifier.err)
	}
	return benchClassifier.spec
}

// BenchmarkClassify is what classify costs over embed on the same model
// (VGG16 with its dense top): a run that fetches the feature map only
// against one that fetches the feature map and the 1,000 scores. The two
// sessions alternate within each iteration, so that other work on the
// machine slows both alike; it reports each one's time per image and the
// overhead of the scores in percent. Run it on a quiet machine:
//
//	go test ./internal/extractor -run '^$' -bench Classify -benchtime 20x
func BenchmarkClassify(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec := vgg16WithTop(b)
	features := spec
	features.Logits, features.Classes = "", 0
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			plain, err := rt.NewSession(features, &SessionOptions{Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer plain.Close()
			both, err := rt.NewSession(spec, &SessionOptions{Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer both.Close()
			in := make([]float32, batch*3*224*224)
			for i := range in {
				in[i] = float32(i%251) / 251
			}
			ctx := context.Background()
			run := func(s *Session, wantScores bool) time.Duration {
				start := time.Now()
				_, sc, err := s.RunScores(ctx, in, batch)
				if err != nil || (sc != nil) != wantScores {
					b.Fatalf("run: %d scores, %v", len(sc), err)
				}
				return time.Since(start)
			}
			run(plain, false) // warm up
			run(both, true)
			var tPlain, tBoth time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					tPlain += run(plain, false)
					tBoth += run(both, true)
				} else {
					tBoth += run(both, true)
					tPlain += run(plain, false)
				}
			}
			n := float64(b.N * batch)
			b.ReportMetric(tPlain.Seconds()*1000/n, "embed-ms/img")
			b.ReportMetric(tBoth.Seconds()*1000/n, "classify-ms/img")
			b.ReportMetric(100*(tBoth.Seconds()/tPlain.Seconds()-1), "overhead-%")
		})
	}
}

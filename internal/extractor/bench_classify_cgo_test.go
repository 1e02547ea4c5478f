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
	once        sync.Once
	spec, trunk model.Spec
	err         error
}{}

func vgg16WithTop(b *testing.B) (withTop, trunk model.Spec) {
	b.Helper()
	benchClassifier.once.Do(func() {
		dir, err := os.MkdirTemp("", "simsearch-bench-vgg16top-")
		if err != nil {
			benchClassifier.err = err
			return
		}
		for _, top := range []bool{true, false} {
			v, err := onnx.NewVGG(onnx.VGG16Config(top))
			if err != nil {
				benchClassifier.err = err
				return
			}
			path := filepath.Join(dir, fmt.Sprintf("vgg16-top-%t.onnx", top))
			if benchClassifier.err = onnx.WriteModel(path, v.Model); benchClassifier.err != nil {
				return
			}
			s := model.Spec{
				Name: "vgg16-top", Path: path, Input: "data", Output: v.Feature.Name,
				Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
				Pre: model.TorchPreprocess(224), Pooling: model.GAP, Random: true,
			}
			if top {
				s.Logits, s.Classes = v.Output, 1000
				benchClassifier.spec = s
			} else {
				s.Name = "vgg16-trunk"
				benchClassifier.trunk = s
			}
		}
	})
	if benchClassifier.err != nil {
		b.Fatal(benchClassifier.err)
	}
	return benchClassifier.spec, benchClassifier.trunk
}

// BenchmarkClassify is what classify costs over embed on the same model
// (VGG16 with its dense top): a run that fetches the feature map only
// (embed) against one that fetches the feature map and the 1,000 scores
// (classify), and, for scale, the same trunk without the top (an embed
// model such as vgg16-random). The sessions take turns within each
// iteration, so that other work on the machine slows them alike; it
// reports each one's time per image and classify's overhead over embed in
// percent. ONNX Runtime runs every node that leads to a graph output,
// whichever outputs a run fetches, so embed on the model with the top
// pays for the top too; trunk-ms/img is what it costs without. Run it on
// a quiet machine:
//
//	go test ./internal/extractor -run '^$' -bench Classify -benchtime 20x
func BenchmarkClassify(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec, trunkSpec := vgg16WithTop(b)
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
			trunk, err := rt.NewSession(trunkSpec, &SessionOptions{Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer trunk.Close()
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
			var t [3]time.Duration // embed, classify, trunk
			turn := func(j int) {
				switch j {
				case 0:
					t[0] += run(plain, false)
				case 1:
					t[1] += run(both, true)
				default:
					t[2] += run(trunk, false)
				}
			}
			for j := range 3 { // warm up
				turn(j)
			}
			t = [3]time.Duration{}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range 3 {
					turn((i + j) % 3)
				}
			}
			tPlain, tBoth := t[0], t[1]
			n := float64(b.N * batch)
			b.ReportMetric(t[2].Seconds()*1000/n, "trunk-ms/img")
			b.ReportMetric(tPlain.Seconds()*1000/n, "embed-ms/img")
			b.ReportMetric(tBoth.Seconds()*1000/n, "classify-ms/img")
			b.ReportMetric(100*(tBoth.Seconds()/tPlain.Seconds()-1), "overhead-%")
		})
	}
}

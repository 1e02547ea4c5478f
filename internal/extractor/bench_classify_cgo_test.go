//go:build cgo

package extractor

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// vgg16WithTop builds VGG16 with its 4096-4096-1000 top (random weights,
// 553 MB) and the same trunk without it, in dir.
func vgg16WithTop(b *testing.B, dir string) (withTop, trunk model.Spec) {
	b.Helper()
	for _, top := range []bool{true, false} {
		v, err := onnx.NewVGG(onnx.VGG16Config(top))
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("vgg16-top-%t.onnx", top))
		if err := onnx.WriteModel(path, v.Model); err != nil {
			b.Fatal(err)
		}
		s := model.Spec{
			Name: "vgg16-trunk", Path: path, Input: "data", Output: v.Feature.Name,
			Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
			Pre: model.TorchPreprocess(224), Pooling: model.GAP, Random: true,
		}
		if top {
			s.Name, s.Logits, s.Classes = "vgg16-top", v.Output, 1000
			withTop = s
		} else {
			trunk = s
		}
	}
	return withTop, trunk
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
	// The parent benchmark runs once; its folder outlives the sub-benchmarks.
	spec, trunkSpec := vgg16WithTop(b, b.TempDir())
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

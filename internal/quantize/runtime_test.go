package quantize_test

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/quantize"
)

// TestQuantize_TinyConvRuns calibrates the tiny non-VGG network on
// random inputs, quantizes it and runs both graphs in ONNX Runtime: the
// int8 feature must follow the float one on inputs it was not
// calibrated on.
func TestQuantize_TinyConvRuns(t *testing.T) {
	rt, err := extractor.OpenRuntime(nil)
	if err != nil {
		if os.Getenv(extractor.LibraryEnv) == "" {
			t.Skipf("ONNX Runtime not available: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() }) // after the sessions' cleanups
	m := quantize.TinyConv("")
	p, err := quantize.Analyse(m, "feature", nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := p.ProbeBytes()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := rt.NewProbe(probe, "x", p.Tensors, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	r := rand.New(rand.NewPCG(5, 6))
	input := func() []float32 {
		x := make([]float32, 3*16*16)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	shape := []int64{1, 3, 16, 16}
	hists := make([]*quantize.Histogram, len(p.Tensors))
	for i := range hists {
		hists[i] = &quantize.Histogram{}
	}
	for range 16 {
		outs, err := ps.Run(input(), shape)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			hists[i].Add(o)
		}
	}
	q, err := p.Quantize(quantize.Ranges(hists, quantize.MSE))
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, b []byte) func([]float32) []float32 {
		s, err := rt.NewProbe(b, "x", []string{"feature"}, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { s.Close() })
		return func(x []float32) []float32 {
			out, err := s.Run(x, shape)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out[0]
		}
	}
	fb, err := onnx.EncodeModel(m)
	if err != nil {
		t.Fatal(err)
	}
	qb, err := onnx.EncodeModel(q)
	if err != nil {
		t.Fatal(err)
	}
	float, int8 := run("float", fb), run("int8", qb)
	worst := 1.0
	for range 8 {
		x := input()
		a, b := float(x), int8(x)
		if len(a) != 5*2*2 || len(b) != len(a) {
			t.Fatalf("feature of %d and %d values, want 20", len(a), len(b))
		}
		var dot, na, nb float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		worst = min(worst, dot/math.Sqrt(na*nb))
	}
	t.Logf("lowest cosine int8 vs float over 8 inputs: %.4f", worst)
	if worst < 0.99 {
		t.Errorf("int8 feature cosine to float %.4f, want ≥ 0.99", worst)
	}
}

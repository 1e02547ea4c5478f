//go:build cgo && !nodnnl

package onednn_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// requireInt8 skips on a CPU without the int8 dot-product instructions
// (AMX-INT8 or AVX512-VNNI), where oneDNN's int8 kernels are emulated
// and may saturate.
func requireInt8(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !strings.Contains(string(b), " amx_int8") && !strings.Contains(string(b), " avx512_vnni") {
		t.Skip("this CPU has neither AMX-INT8 nor AVX512-VNNI")
	}
}

// quantized is spec's int8 model as internal/quantize writes it, its
// activations calibrated (mse) on ONNX Runtime over random images.
func quantized(t testing.TB, rt *extractor.Runtime, spec model.Spec, images int) model.Spec {
	t.Helper()
	plan, err := quantize.AnalyseFile(spec.Path, spec.Output, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plan.ProbeBytes()
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.NewProbe(b, spec.Input, plan.Tensors, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hists := make([]*quantize.Histogram, len(plan.Tensors))
	for i := range hists {
		hists[i] = &quantize.Histogram{}
	}
	n := int64(spec.Pre.Size)
	for k := range images {
		outs, err := p.Run(input(spec, 1, uint64(100+k)), []int64{1, 3, n, n})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			hists[i].Add(o)
		}
	}
	q, err := plan.Quantize(quantize.Ranges(hists, quantize.MSE))
	if err != nil {
		t.Fatal(err)
	}
	s := spec
	s.Name, s.Quantized = spec.Name+"-int8", model.QuantizedInt8
	s.Path = filepath.Join(t.TempDir(), s.Name+".onnx")
	if err := onnx.WriteModel(s.Path, q); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExecutor_Int8MatchesORT runs int8 models (tiny VGG and
// vgg16-random, quantized by internal/quantize) through oneDNN int8 and
// ONNX Runtime's int8 session of the same QDQ file: the same integer
// arithmetic, so the outputs agree but for rounding steps (a float sum
// on one side of a rounding boundary on one engine and on the other
// side on the other, carried through the layers): cosine ≥ 0.9999, and
// 95% of values within one output step (measured: tiny VGG all of them,
// vgg16-random 98.4%); oneDNN's cosine to the fp32 model is within 0.001
// of ONNX Runtime int8's. oneDNN picks int8 kernels.
func TestExecutor_Int8MatchesORT(t *testing.T) {
	requireLibrary(t)
	requireInt8(t)
	rt := openRuntime(t)
	specs := []model.Spec{tinyVGG(t)}
	if !testing.Short() {
		specs = append(specs, vgg16Random(t))
	}
	for _, spec := range specs {
		q := quantized(t, rt, spec, 8)
		x := newExecutor(t, q, onednn.INT8)
		for k, batch := range []int{1, 2} {
			in := input(spec, batch, uint64(k))
			want := ortRun(t, rt, q, in, batch)
			fp := ortRun(t, rt, spec, in, batch)
			got, err := x.Run(context.Background(), in, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s batch %d: %d values, ONNX Runtime %d", q.Name, batch, len(got), len(want))
			}
			// The output is a dequantized uint8: its step is the
			// smallest positive difference between values.
			step, peak := math.Inf(1), 0.0
			for _, v := range want {
				peak = max(peak, float64(v))
			}
			for i := range want {
				if d := math.Abs(float64(want[i]) - float64(want[(i+1)%len(want)])); d > 1e-6*peak {
					step = min(step, d)
				}
			}
			off := 0
			for i := range want {
				if math.Abs(float64(got[i])-float64(want[i])) > step*1.01 {
					off++
				}
			}
			per := len(want) / batch
			for i := range batch {
				g, w, f := got[i*per:(i+1)*per], want[i*per:(i+1)*per], fp[i*per:(i+1)*per]
				c, cf, of := cosine(g, w), cosine(g, f), cosine(w, f)
				t.Logf("%s batch %d image %d: cosine to ONNX Runtime int8 %.6f; to fp32 %.5f (ONNX Runtime int8 %.5f); %d of %d values off by more than a step (%.3g)",
					q.Name, batch, i, c, cf, of, off, len(want), step)
				if c < 0.9999 {
					t.Errorf("%s batch %d image %d: cosine to ONNX Runtime int8 %.6f, want ≥ 0.9999", q.Name, batch, i, c)
				}
				if cf < of-0.001 {
					t.Errorf("%s batch %d image %d: cosine to fp32 %.5f, ONNX Runtime int8's %.5f", q.Name, batch, i, cf, of)
				}
			}
			if off > len(want)/20 {
				t.Errorf("%s batch %d: %d of %d values differ from ONNX Runtime int8 by more than one step", q.Name, batch, off, len(want))
			}
		}
		ks := x.Kernels()
		t.Logf("%s int8 kernels: %s", q.Name, onednn.Summary(ks))
		n := 0
		for _, k := range ks {
			if strings.Contains(k.Impl, "int8") || strings.Contains(k.Impl, "vnni") {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: no int8 kernel among %v", q.Name, ks)
		}
	}
}

// TestNew_Int8Precision: int8 runs only a quantized model, and a
// quantized model runs only in int8.
func TestNew_Int8Precision(t *testing.T) {
	requireLibrary(t)
	rt := openRuntime(t)
	spec := tinyVGG(t)
	if _, err := onednn.New(spec, &onednn.Options{Precision: onednn.INT8}); err == nil || !strings.Contains(err.Error(), "int8 runs its int8 model") {
		t.Errorf("int8 on a float model: %v", err)
	}
	q := quantized(t, rt, spec, 2)
	if _, err := onednn.New(q, &onednn.Options{Precision: onednn.BF16}); err == nil || !strings.Contains(err.Error(), "it runs in int8, not bf16") {
		t.Errorf("bf16 on an int8 model: %v", err)
	}
}

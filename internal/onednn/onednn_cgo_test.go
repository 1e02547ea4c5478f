//go:build cgo && !nodnnl

package onednn_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/model"
)

// requireLibrary fails when libdnnl does not load: this file builds only
// against libdnnl-dev's header, whose package depends on the library, so
// a library that does not load is a fault, not a machine without it.
func requireLibrary(t testing.TB) {
	t.Helper()
	if ok, why := onednn.Available(); !ok {
		t.Fatalf("oneDNN does not load although its header was there to build this: %s", why)
	}
}

// requireBF16 skips on a CPU without native bf16 (oneDNN would emulate
// it, slowly, or refuse).
func requireBF16(t testing.TB) {
	t.Helper()
	if len(extractor.CPUBF16Features()) == 0 {
		t.Skip("this CPU has neither AMX-BF16 nor AVX512-BF16")
	}
}

func openRuntime(t testing.TB) *extractor.Runtime {
	t.Helper()
	rt, err := extractor.OpenRuntime(nil)
	if err != nil {
		if os.Getenv(extractor.LibraryEnv) == "" && errors.Is(err, extractor.ErrNoLibrary) {
			t.Skipf("ONNX Runtime not installed (run make, or set %s): %v", extractor.LibraryEnv, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// tinyVGG is a small VGG: 3×20×20 in, blocks of 5 and 8 channels.
func tinyVGG(t testing.TB) model.Spec {
	t.Helper()
	v, err := onnx.NewVGG(onnx.VGGConfig{Name: "tiny", Size: 20, InChannels: 3, Blocks: [][]int{{5}, {8, 8}}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return writeSpec(t, "tiny", v.Model, v.Feature.Name, 20, v.Feature.C, v.Feature.H, v.Feature.W)
}

func writeSpec(t testing.TB, name string, m *onnxpb.ModelProto, output string, size, c, h, w int) model.Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".onnx")
	if err := onnx.WriteModel(path, m); err != nil {
		t.Fatal(err)
	}
	return model.Spec{Name: name, Path: path, Input: "data", Output: output, Channels: c, GridH: h, GridW: w,
		Pre: model.TorchPreprocess(size), Pooling: model.GAP}
}

// oddConv is a conv chain with what VGG lacks: a 5×5 kernel of stride 2
// with uneven pads and no bias, a 3×3 dilated one with no ReLU, and a 3×3
// max-pool of stride 2 with padding.
func oddConv(t testing.TB) model.Spec {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	weights := func(name string, dims ...int64) *onnxpb.TensorProto {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.2)
		}
		return &onnxpb.TensorProto{Name: &name, DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: dims, FloatData: v}
	}
	g := &onnxpb.GraphProto{
		Name: ptr("odd"),
		Node: []*onnxpb.NodeProto{
			onnx.Node("Conv", []string{"data", "w1"}, "c1", onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 2, 1, 1, 2)),
			onnx.Node("Relu", []string{"c1"}, "r1"),
			onnx.Node("Conv", []string{"r1", "w2", "b2"}, "c2", onnx.IntsAttr("dilations", 2, 2), onnx.IntsAttr("pads", 2, 2, 2, 2)),
			onnx.Node("MaxPool", []string{"c2"}, "p2", onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 1, 1, 1, 1)),
		},
		Input:       []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("data", -1, 3, 23, 23)},
		Initializer: []*onnxpb.TensorProto{weights("w1", 6, 3, 5, 5), weights("w2", 7, 6, 3, 3), weights("b2", 7)},
		Output:      []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("p2", -1, 7, 6, 6)},
	}
	m := &onnxpb.ModelProto{IrVersion: ptr(int64(7)), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: ptr(int64(13))}}}
	// 23 → (23+3-5)/2+1 = 11 → 11 (dilated, padded) → (11+2-3)/2+1 = 6
	return writeSpec(t, "odd", m, "p2", 23, 7, 6, 6)
}

func ptr[T any](v T) *T { return &v }

// vgg16Random is the catalog's vgg16-random, built once per test binary.
var vgg16 struct {
	once sync.Once
	spec model.Spec
	err  error
}

func vgg16Random(t testing.TB) model.Spec {
	t.Helper()
	vgg16.once.Do(func() {
		dir, err := os.MkdirTemp("", "simsearch-onednn-")
		if err != nil {
			vgg16.err = err
			return
		}
		e, _ := model.Lookup("vgg16-random")
		vgg16.spec, vgg16.err = model.BuildRandom(dir, e)
	})
	if vgg16.err != nil {
		t.Fatal(vgg16.err)
	}
	return vgg16.spec
}

func input(spec model.Spec, batch int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	in := make([]float32, batch*3*spec.Pre.Size*spec.Pre.Size)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	return in
}

// ortRun is ONNX Runtime's output for the same input.
func ortRun(t testing.TB, rt *extractor.Runtime, spec model.Spec, in []float32, batch int) []float32 {
	t.Helper()
	s, err := rt.NewSession(spec, &extractor.SessionOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(in, batch)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newExecutor(t testing.TB, spec model.Spec, p onednn.Precision) *onednn.Executor {
	t.Helper()
	x, err := onednn.New(spec, &onednn.Options{Threads: 2, Precision: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// worst is the largest |got-want| / (1+|want|).
func worst(got, want []float32) float64 {
	w := 0.0
	for i := range want {
		w = max(w, math.Abs(float64(got[i])-float64(want[i]))/(1+math.Abs(float64(want[i]))))
	}
	return w
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestExecutor_FP32MatchesORT runs generated conv models and vgg16-random
// through oneDNN in fp32 and ONNX Runtime on the same input: they agree
// within 1e-4 (relative to 1+|value|) at batch 1 and 3, and at batch 1
// again (whose primitives must still read their weights once batch 3's
// kernels have wanted another layout).
func TestExecutor_FP32MatchesORT(t *testing.T) {
	requireLibrary(t)
	rt := openRuntime(t)
	specs := []model.Spec{tinyVGG(t), oddConv(t)}
	if !testing.Short() {
		specs = append(specs, vgg16Random(t))
	}
	for _, spec := range specs {
		x := newExecutor(t, spec, onednn.FP32)
		for k, batch := range []int{1, 3, 1} {
			in := input(spec, batch, uint64(k))
			want := ortRun(t, rt, spec, in, batch)
			got, err := x.Run(context.Background(), in, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s batch %d: %d values, ONNX Runtime %d", spec.Name, batch, len(got), len(want))
			}
			w := worst(got, want)
			t.Logf("%s batch %d: worst relative difference to ONNX Runtime %.2g", spec.Name, batch, w)
			if w > 1e-4 {
				t.Errorf("%s batch %d: oneDNN fp32 differs from ONNX Runtime by %.3g, want ≤ 1e-4", spec.Name, batch, w)
			}
		}
	}
}

// TestExecutor_BF16 checks bf16 against fp32 per image: cosine of the
// feature maps ≥ 0.999 (the embedding gate on photos is in the root
// package) and the kernels oneDNN picked are bf16 ones.
func TestExecutor_BF16(t *testing.T) {
	requireLibrary(t)
	requireBF16(t)
	specs := []model.Spec{tinyVGG(t)}
	if !testing.Short() {
		specs = append(specs, vgg16Random(t))
	}
	for _, spec := range specs {
		f, b := newExecutor(t, spec, onednn.FP32), newExecutor(t, spec, onednn.BF16)
		const batch = 2
		in := input(spec, batch, 9)
		fm, err := f.Run(context.Background(), in, batch)
		if err != nil {
			t.Fatal(err)
		}
		bm, err := b.Run(context.Background(), in, batch)
		if err != nil {
			t.Fatal(err)
		}
		per := len(fm) / batch
		for i := range batch {
			c := cosine(fm[i*per:(i+1)*per], bm[i*per:(i+1)*per])
			t.Logf("%s image %d: cosine bf16 to fp32 %.6f", spec.Name, i, c)
			if c < 0.999 {
				t.Errorf("%s image %d: cosine bf16 to fp32 %.6f, want ≥ 0.999", spec.Name, i, c)
			}
		}
		ks := b.Kernels()
		t.Logf("%s bf16 kernels: %s", spec.Name, onednn.Summary(ks))
		bf := 0
		for _, k := range ks {
			if strings.Contains(k.Impl, "bf16") || strings.Contains(k.Impl, "amx") {
				bf++
			}
		}
		if bf == 0 {
			t.Errorf("%s: no bf16 kernel among %v", spec.Name, ks)
		}
	}
}

// TestExecutor_Kernels checks that every layer of the trunk is a step
// with a named kernel.
func TestExecutor_Kernels(t *testing.T) {
	requireLibrary(t)
	spec := tinyVGG(t)
	x := newExecutor(t, spec, onednn.FP32)
	names := map[string]bool{}
	for _, k := range x.Kernels() {
		if k.Impl == "" {
			t.Errorf("%s: no implementation name", k.Layer)
		}
		names[k.Layer] = true
	}
	for _, l := range []string{"block1_conv1", "block1_pool", "block2_conv1", "block2_conv2", "block2_pool"} {
		if !names[l] {
			t.Errorf("no kernel for %s in %v", l, x.Kernels())
		}
	}
}

// TestExecutor_Run checks bad input and a cancelled context.
func TestExecutor_Run(t *testing.T) {
	requireLibrary(t)
	spec := tinyVGG(t)
	x := newExecutor(t, spec, onednn.FP32)
	if _, err := x.Run(context.Background(), make([]float32, 10), 1); err == nil || !strings.Contains(err.Error(), "input holds 10 values") {
		t.Errorf("short input: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := x.Run(ctx, input(spec, 1, 1), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	// Concurrent runs of two batch sizes take turns and each gets its own.
	var wg sync.WaitGroup
	outs := make([][]float32, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := x.Run(context.Background(), input(spec, 1+i%2, uint64(i%2)), 1+i%2)
			if err != nil {
				t.Error(err)
			}
			outs[i] = o
		}()
	}
	wg.Wait()
	if worst(outs[0], outs[2]) != 0 || worst(outs[1], outs[3]) != 0 || len(outs[1]) != 2*len(outs[0]) {
		t.Error("concurrent runs of the same input differ")
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Run(context.Background(), input(spec, 1, 1), 1); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// TestNew_RefusesNonVGG: a graph with another operator on the path is
// refused with one line naming the node.
func TestNew_RefusesNonVGG(t *testing.T) {
	requireLibrary(t)
	v, err := onnx.NewVGG(onnx.VGGConfig{Name: "tiny", Size: 20, InChannels: 3, Blocks: [][]int{{5}}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v.Model.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" {
			n.OpType = ptr("Sigmoid")
		}
	}
	spec := writeSpec(t, "sigmoid", v.Model, v.Feature.Name, 20, v.Feature.C, v.Feature.H, v.Feature.W)
	_, err = onednn.New(spec, nil)
	if !errors.Is(err, onednn.ErrNotVGG) || !strings.Contains(err.Error(), "(Sigmoid)") || strings.Contains(err.Error(), "\n") {
		t.Errorf("New: %v, want ErrNotVGG naming the Sigmoid node on one line", err)
	}
}

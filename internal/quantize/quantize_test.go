package quantize

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

func TestHistogram_Rules(t *testing.T) {
	// A ReLU-like activation: half zeros, the rest exponential with mean 1,
	// and one outlier at 1000.
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 200_000)
	for i := range x {
		if i%2 == 1 {
			x[i] = float32(r.ExpFloat64())
		}
	}
	x[7] = 1000
	var h Histogram
	h.Add(x)
	h.Add([]float32{float32(math.NaN())})
	if h.Count() != uint64(len(x)) {
		t.Fatalf("count %d, want %d (NaN not counted)", h.Count(), len(x))
	}
	mx, pc := h.Range(Max), h.Range(Percentile)
	if mx != (Range{0, 1000}) {
		t.Errorf("max: %v, want [0, 1000]", mx)
	}
	// The 99.99th percentile of |x| is that of the exponential at
	// 1 - 2e-4: ln(5000) ≈ 8.5, within a bin (1/128 octave).
	if want := math.Log(5000); math.Abs(float64(pc.Hi)-want) > 0.1*want || pc.Lo != 0 {
		t.Errorf("percentile: %v, want [0, about %.2f]", pc, want)
	}
	// Without the outlier, least squared error clips the sparse tail:
	// below the maximum, better than it and than half the range chosen.
	x[7] = 0
	var e Histogram
	e.Add(x)
	ms, top := e.Range(MSE), e.Range(Max).Hi
	if ms.Lo != 0 || ms.Hi >= top || ms.Hi < 2 {
		t.Errorf("mse: %v, want [0, between 2 and the maximum %.2f]", ms, top)
	}
	if best := e.mse(0, float64(ms.Hi)); best >= e.mse(0, float64(top)) || best >= e.mse(0, float64(ms.Hi)/2) {
		t.Errorf("mse range %.2f is not better than the whole range or half of it", ms.Hi)
	}
}

func TestHistogram_Signed(t *testing.T) {
	var h Histogram
	h.Add([]float32{-2, -1, 0, 1, 3})
	if got := h.Range(Max); got != (Range{-2, 3}) {
		t.Errorf("max: %v, want [-2, 3]", got)
	}
	s, zp := params(Range{-2, 3})
	if math.Abs(float64(s)-5.0/255) > 1e-7 || zp != 102 {
		t.Errorf("params [-2, 3]: scale %v zero point %d, want %v and 102", s, zp, 5.0/255)
	}
	if s, zp := params(Range{0, 2.55}); math.Abs(float64(s)-0.01) > 1e-7 || zp != 0 {
		t.Errorf("params [0, 2.55]: scale %v zero point %d, want 0.01 and 0", s, zp)
	}
	var empty Histogram
	if got := empty.Range(MSE); got != (Range{}) {
		t.Errorf("empty: %v", got)
	}
	if s, zp := params(Range{}); s != 1 || zp != 0 {
		t.Errorf("params of an empty range: %v %d, want unit scale", s, zp)
	}
}

func TestParseRule(t *testing.T) {
	for _, r := range Rules() {
		if got, err := ParseRule(string(r)); err != nil || got != r {
			t.Errorf("ParseRule(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParseRule("kl"); err == nil || !strings.Contains(err.Error(), "max, percentile or mse") {
		t.Errorf("ParseRule(kl): %v", err)
	}
}

func TestPerChannel(t *testing.T) {
	w := []float32{1, -0.5, 0.25, 0, 10, -20, 5, 0, 0, 0, 0, 0}
	q, s := perChannel(w, 3)
	want := []float32{1.0 / 127, 20.0 / 127, 1}
	for c := range s {
		if math.Abs(float64(s[c]-want[c])) > 1e-7 {
			t.Errorf("channel %d scale %v, want %v", c, s[c], want[c])
		}
	}
	for i, x := range w {
		back := float32(int8(q[i])) * s[i/4]
		if math.Abs(float64(back-x)) > float64(s[i/4])/2+1e-6 {
			t.Errorf("weight %d: %v comes back as %v", i, x, back)
		}
	}
	if int8(q[0]) != 127 || int8(q[5]) != -127 {
		t.Errorf("channel maxima map to %d and %d, want 127 and -127", int8(q[0]), int8(q[5]))
	}
}

// tinyConv is a small convolution network that is not VGG-shaped: a
// strided 5×5 convolution with a bias straight into a 1×1 one (no ReLU
// between, so the activation is signed), a ReLU, a max-pool that a third
// convolution reads, and the feature pool.
func tinyConv(extra string) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.3)
		}
		return v
	}
	init := func(name string, dims []int64) *onnxpb.TensorProto {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: dims, FloatData: randn(n)}
	}
	g := &onnxpb.GraphProto{
		Name:  proto.String("tiny"),
		Input: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("x", -1, 3, 16, 16)},
		Initializer: []*onnxpb.TensorProto{
			init("w1", []int64{6, 3, 5, 5}), init("b1", []int64{6}),
			init("w2", []int64{4, 6, 1, 1}),
			init("w3", []int64{5, 4, 3, 3}), init("b3", []int64{5}),
		},
		Node: []*onnxpb.NodeProto{
			onnx.Node("Conv", []string{"x", "w1", "b1"}, "c1", onnx.IntsAttr("kernel_shape", 5, 5), onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 2, 2, 2, 2)),
			onnx.Node("Conv", []string{"c1", "w2"}, "c2", onnx.IntsAttr("kernel_shape", 1, 1)),
			onnx.Node("Relu", []string{"c2"}, "r2"),
			onnx.Node("MaxPool", []string{"r2"}, "p2", onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)),
			onnx.Node("Conv", []string{"p2", "w3", "b3"}, "c3", onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1)),
			onnx.Node("Relu", []string{"c3"}, "r3"),
			onnx.Node("MaxPool", []string{"r3"}, "feature", onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)),
		},
		Output: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("feature", -1, 5, 2, 2)},
	}
	if extra != "" {
		// An operator this package does not handle, on the path.
		g.Node[2] = onnx.Node(extra, []string{"c2"}, "r2")
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(7), OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(12)}}, Graph: g}
}

// TestAnalyse_TinyConv checks the rewritten graph's structure; the
// root package runs it in ONNX Runtime.
func TestAnalyse_TinyConv(t *testing.T) {
	m := tinyConv("")
	p, err := Analyse(m, "feature", nil)
	if err != nil {
		t.Fatal(err)
	}
	// c1 (signed, read by c2), r2 (pooled into p2, read by c3), r3 (the
	// feature pool's input); x stays float.
	if want := []string{"c1", "r2", "r3"}; !slices.Equal(p.Tensors, want) {
		t.Fatalf("tensors %v, want %v", p.Tensors, want)
	}
	q, err := p.Quantize([]Range{{-3, 4}, {0, 5}, {0, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetOpsetImport()[0].GetVersion() != 13 {
		t.Errorf("opset %d, want 13 (per-channel DequantizeLinear)", q.GetOpsetImport()[0].GetVersion())
	}
	prod := map[string]*onnxpb.NodeProto{}
	for _, n := range q.GetGraph().GetNode() {
		prod[n.GetOutput()[0]] = n
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, in := range q.GetGraph().GetInitializer() {
		inits[in.GetName()] = in
	}
	for _, n := range q.GetGraph().GetNode() {
		if n.GetOpType() != "Conv" {
			continue
		}
		in := n.GetInput()
		if n.GetOutput()[0] == "c1" {
			if in[0] != "x" || inits[in[1]] == nil {
				t.Errorf("first conv %v: want float input and weights", in)
			}
			continue
		}
		for i, x := range in {
			dq := prod[x]
			if dq == nil || dq.GetOpType() != "DequantizeLinear" {
				t.Fatalf("conv %s input %d (%s) is not dequantized", n.GetName(), i, x)
			}
			src := dq.GetInput()[0]
			switch i {
			case 0:
				if prod[src].GetOpType() != "QuantizeLinear" {
					t.Errorf("conv %s reads %s, not a quantized activation", n.GetName(), src)
				}
			case 1:
				if inits[src].GetDataType() != int32(onnxpb.TensorProto_INT8) || len(inits[dq.GetInput()[1]].GetFloatData()) != int(inits[src].GetDims()[0]) {
					t.Errorf("conv %s weight %s is not int8 with a scale per channel", n.GetName(), src)
				}
			case 2:
				if inits[src].GetDataType() != int32(onnxpb.TensorProto_INT32) {
					t.Errorf("conv %s bias %s is not int32", n.GetName(), src)
				}
			}
		}
	}
	if f := prod["feature"]; f.GetOpType() != "MaxPool" || prod[f.GetInput()[0]].GetOpType() != "DequantizeLinear" {
		t.Errorf("the feature is not a float pool of dequantized values")
	}
	for _, name := range []string{"w2", "w3", "b3"} {
		if inits[name] != nil {
			t.Errorf("float %s is still in the graph", name)
		}
	}
	if inits["w1"] == nil {
		t.Error("the float first layer lost its weights")
	}
	// The original is untouched.
	if got := m.GetGraph().GetNode()[1].GetInput()[0]; got != "c1" {
		t.Errorf("Quantize modified the plan's graph: conv2 reads %s", got)
	}
	if _, err := onnx.EncodeModel(q); err != nil {
		t.Fatal(err)
	}
}

func TestAnalyse_Refuses(t *testing.T) {
	noConv := tinyConv("")
	noConv.Graph.Node = noConv.Graph.Node[6:]
	noConv.Graph.Node[0].Input[0] = "x"
	quantized := tinyConv("")
	quantized.Graph.Node = append(quantized.Graph.Node, onnx.Node("QuantizeLinear", []string{"feature", "s"}, "fq"))
	dynamic := tinyConv("")
	dynamic.Graph.Initializer = dynamic.Graph.Initializer[1:] // w1 gone: a runtime input
	dynamic.Graph.Input = append(dynamic.Graph.Input, onnx.TensorValueInfo("w1", 6, 3, 5, 5))
	for _, tc := range []struct {
		name    string
		m       *onnxpb.ModelProto
		feature string
		want    string
	}{
		{"an unknown operator", tinyConv("Sigmoid"), "feature", "node r2 (Sigmoid) on the path to feature: only Conv, Relu and MaxPool are handled"},
		{"no convolution", noConv, "feature", "no convolution on the path to feature"},
		{"already quantized", quantized, "feature", "already quantized"},
		{"weights fed at run time", dynamic, "feature", "has no constant float 4-d weight"},
		{"no such feature", tinyConv(""), "nothing", `no node computes the feature tensor "nothing"`},
	} {
		_, err := Analyse(tc.m, tc.feature, nil)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want ErrUnsupported with %q on one line", tc.name, err, tc.want)
		}
	}
}

// TestQuantize_ClassifierStaysFloat quantizes a VGG with dense layers
// after its feature, as the pretrained models have: the classifier reads
// the float feature and keeps its float weights.
func TestQuantize_ClassifierStaysFloat(t *testing.T) {
	v, err := onnx.NewVGG(onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{16, 10}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Analyse(v.Model, v.Feature.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"block1_relu1", "block2_relu1", "block2_relu2"}; !slices.Equal(p.Tensors, want) {
		t.Fatalf("tensors %v, want %v", p.Tensors, want)
	}
	q, err := p.Quantize([]Range{{0, 1}, {0, 2}, {0, 3}})
	if err != nil {
		t.Fatal(err)
	}
	var qconv int
	for _, n := range q.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "Flatten":
			if n.GetInput()[0] != v.Feature.Name {
				t.Errorf("the classifier reads %s, not the float feature %s", n.GetInput()[0], v.Feature.Name)
			}
		case "Gemm":
			if !strings.HasSuffix(n.GetInput()[1], "_W") {
				t.Errorf("dense %s reads %s, not its float weight", n.GetName(), n.GetInput()[1])
			}
		case "Conv":
			if strings.HasSuffix(n.GetInput()[1], "_dequantized") {
				qconv++
			}
		}
	}
	if qconv != 2 {
		t.Errorf("%d int8 convolutions, want 2 (the first reads the float input)", qconv)
	}
	shapes, err := onnx.InferShapes(q)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapes[v.Logits]; len(got) != 2 || got[1] != 10 {
		t.Errorf("logits shape %v after quantization, want N×10", got)
	}
}

package onednn

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// testModel is a graph on a 3×12×12 input "x" with the nodes given and
// constant float weights w (8×3×3×3) and bias b (8).
func testModel(nodes ...*onnxpb.NodeProto) *onnxpb.ModelProto {
	w := make([]float32, 8*3*3*3)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	g := &onnxpb.GraphProto{
		Node:  nodes,
		Input: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("x", -1, 3, 12, 12)},
		Initializer: []*onnxpb.TensorProto{
			{Name: ptr("w"), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{8, 3, 3, 3}, FloatData: w},
			{Name: ptr("b"), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{8}, FloatData: make([]float32, 8)},
		},
		Output: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("out", -1, 8, 6, 6)},
	}
	return &onnxpb.ModelProto{Graph: g}
}

func ptr[T any](v T) *T { return &v }

func testSpec(c, h, w int) model.Spec {
	return model.Spec{Name: "test", Input: "x", Output: "out", Channels: c, GridH: h, GridW: w, Pre: model.Preprocess{Size: 12, Layout: model.NCHW}}
}

func TestParseChain_VGG(t *testing.T) {
	m := testModel(
		onnx.Node("Conv", []string{"x", "w", "b"}, "c1", onnx.IntsAttr("pads", 1, 1, 1, 1)),
		onnx.Node("Relu", []string{"c1"}, "r1"),
		onnx.Node("MaxPool", []string{"r1"}, "out", onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)),
	)
	c, err := parseChain(m, testSpec(8, 6, 6))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.layers) != 2 || c.layers[0].pool || !c.layers[0].relu || !c.layers[1].pool {
		t.Fatalf("layers %+v, want a convolution with its ReLU fused, then a pool", c.layers)
	}
	conv, pool := c.layers[0], c.layers[1]
	if conv.out != [3]int{8, 12, 12} || pool.out != [3]int{8, 6, 6} || pool.strides != [2]int{2, 2} || conv.pads != [4]int{1, 1, 1, 1} {
		t.Errorf("conv out %v pads %v, pool out %v strides %v", conv.out, conv.pads, pool.out, pool.strides)
	}
	if len(conv.weights) != 8*3*3*3 || conv.weights[1] != -2 || len(conv.bias) != 8 {
		t.Errorf("weights %d values (second %v), bias %d", len(conv.weights), conv.weights[1], len(conv.bias))
	}
}

// TestParseChain_Refuses checks that what the executor cannot run is
// refused with one line naming the node or setting in the way.
func TestParseChain_Refuses(t *testing.T) {
	conv := func(attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return onnx.Node("Conv", []string{"x", "w", "b"}, "c1", append(attrs, onnx.IntsAttr("pads", 1, 1, 1, 1))...)
	}
	pool := func(in string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return onnx.Node("MaxPool", []string{in}, "out", append(attrs, onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2))...)
	}
	nhwc := testSpec(8, 6, 6)
	nhwc.Pre.Layout = model.NHWC
	for _, tc := range []struct {
		name string
		m    *onnxpb.ModelProto
		spec model.Spec
		want string
	}{
		{"sigmoid", testModel(conv(), onnx.Node("Sigmoid", []string{"c1"}, "s1"), pool("s1")), testSpec(8, 6, 6), "node s1 (Sigmoid) on the path to out"},
		{"relu after pool", testModel(conv(), pool("c1"), onnx.Node("Relu", []string{"out"}, "r")), func() model.Spec { s := testSpec(8, 6, 6); s.Output = "r"; return s }(), "Relu r does not follow a convolution"},
		{"ceil mode", testModel(conv(), pool("c1", onnx.IntAttr("ceil_mode", 1))), testSpec(8, 6, 6), "MaxPool out: ceil_mode"},
		{"auto pad", testModel(onnx.Node("Conv", []string{"x", "w", "b"}, "c1", &onnxpb.AttributeProto{Name: ptr("auto_pad"), S: []byte("SAME_UPPER")}), pool("c1")), testSpec(8, 6, 6), "Conv c1: auto_pad SAME_UPPER"},
		{"shape", testModel(conv(), pool("c1")), testSpec(8, 7, 7), "the trunk gives 8×6×6 per image, the spec says 8×7×7"},
		{"nhwc", testModel(conv(), pool("c1")), nhwc, "takes NHWC input"},
		{"no input", testModel(conv(), pool("c1")), func() model.Spec { s := testSpec(8, 6, 6); s.Input = "y"; return s }(), "computed from x, not from the input y"},
	} {
		_, err := parseChain(tc.m, tc.spec)
		if !errors.Is(err, ErrNotVGG) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want ErrNotVGG saying %q on one line", tc.name, err, tc.want)
		}
	}
	// A grouped convolution: 8 filters of 1 channel on 3 channels.
	m := testModel(conv(onnx.IntAttr("group", 3)), pool("c1"))
	if _, err := parseChain(m, testSpec(8, 6, 6)); !errors.Is(err, ErrNotVGG) || !strings.Contains(err.Error(), "Conv c1: grouped convolution") {
		t.Errorf("grouped: %v", err)
	}
}

// TestParseChain_QDQ reads an int8 model as internal/quantize writes it:
// the first convolution reads the image (float) and its ReLU's output is
// quantized; the second reads that at the same scale, with int8 weights,
// a scale per channel and its bias; the pool reads the second's uint8
// output. A zero point other than 0 is refused.
func TestParseChain_QDQ(t *testing.T) {
	v, err := onnx.NewVGG(onnx.VGGConfig{Name: "q", Size: 12, InChannels: 3, Blocks: [][]int{{4, 6}}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Name: "q-int8", Input: "data", Output: v.Feature.Name, Channels: 6, GridH: 6, GridW: 6, Pre: model.Preprocess{Size: 12, Layout: model.NCHW}}
	plan, err := quantize.Analyse(v.Model, spec.Output, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Tensors) != 2 {
		t.Fatalf("plan tensors %v, want the two ReLU outputs", plan.Tensors)
	}
	q, err := plan.Quantize([]quantize.Range{{Hi: 2.55}, {Hi: 5.1}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseChain(q, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !c.quantized || len(c.layers) != 3 {
		t.Fatalf("quantized %v, %d layers, want a quantized chain of 3", c.quantized, len(c.layers))
	}
	c1, c2, p := c.layers[0], c.layers[1], c.layers[2]
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-6 }
	if c1.inScale != 0 || c1.wq != nil || len(c1.weights) != 4*3*9 || !near(c1.outScale, 0.01) || !c1.relu {
		t.Errorf("first conv: in %g out %g, %d int8 and %d float weights, relu %v; want float in, out 0.01, float weights", c1.inScale, c1.outScale, len(c1.wq), len(c1.weights), c1.relu)
	}
	if c2.inScale != c1.outScale || len(c2.wq) != 6*4*9 || len(c2.wScales) != 6 || !near(c2.outScale, 0.02) || len(c2.bias) != 6 || !c2.relu {
		t.Errorf("second conv: in %g out %g, %d int8 weights, %d scales, %d biases; want in %g out 0.02, 216, 6, 6", c2.inScale, c2.outScale, len(c2.wq), len(c2.wScales), len(c2.bias), c1.outScale)
	}
	// The weights dequantize to the float ones within half a step.
	w, _ := onnx.Floats(findInit(v.Model, "block1_conv2_W"))
	for i, x := range c2.wq {
		s := c2.wScales[i/(4*9)]
		if d := math.Abs(float64(float32(x)*s - w[i])); d > float64(s)/2+1e-7 {
			t.Fatalf("weight %d: int8 %d × %g is %g from %g", i, x, s, d, w[i])
		}
	}
	if !p.pool || p.inScale != c2.outScale {
		t.Errorf("pool reads scale %g, want the second conv's %g", p.inScale, c2.outScale)
	}
	// A range with negative values has a zero point other than 0.
	q, err = plan.Quantize([]quantize.Range{{Lo: -1, Hi: 2}, {Hi: 5.1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseChain(q, spec); !errors.Is(err, ErrNotVGG) || !strings.Contains(err.Error(), "zero point") {
		t.Errorf("zero point 85: %v, want ErrNotVGG naming the zero point", err)
	}
}

func findInit(m *onnxpb.ModelProto, prefix string) *onnxpb.TensorProto {
	for _, t := range m.GetGraph().GetInitializer() {
		if strings.HasPrefix(t.GetName(), prefix) {
			return t
		}
	}
	return nil
}

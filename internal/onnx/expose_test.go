package onnx_test

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
)

func smallVGG() onnx.VGGConfig {
	return onnx.VGGConfig{Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{6, 5}, Seed: 2}
}

func TestExposeFeatures_Quantized(t *testing.T) {
	for _, tt := range []struct {
		name string
		form onnxtest.Form
		want string // the feature tensor
		add  bool   // a DequantizeLinear is added
	}{
		{"pool read by a DequantizeLinear", onnxtest.DequantizedPool, "features", false},
		{"pool not dequantized", onnxtest.IntegerDense, "block2_pool_dequantized", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := onnxtest.QuantizedVGG(smallVGG(), tt.form)
			if err != nil {
				t.Fatal(err)
			}
			m := q.Model
			nodes := len(m.GetGraph().GetNode())
			f, err := onnx.ExposeFeatures(m)
			if err != nil {
				t.Fatal(err)
			}
			if want := (onnx.Feature{Name: tt.want, C: 8, H: 4, W: 4}); f != want {
				t.Errorf("feature = %+v, want %+v", f, want)
			}
			g := m.GetGraph()
			if added := len(g.GetNode()) - nodes; added != map[bool]int{false: 0, true: 1}[tt.add] {
				t.Fatalf("%d nodes added", added)
			}
			if tt.add {
				n := g.GetNode()[len(g.GetNode())-1]
				if n.GetOpType() != "DequantizeLinear" || !slices.Equal(n.GetInput(), []string{q.Pool, q.Quant.Scale, q.Quant.ZeroPoint}) {
					t.Errorf("added %s%q, want DequantizeLinear of %s with the last convolution's scale and zero point", n.GetOpType(), n.GetInput(), q.Pool)
				}
			}
			if got := outputNames(m); !slices.Equal(got, []string{"predictions", tt.want}) {
				t.Errorf("outputs = %q, want the classifier then %s", got, tt.want)
			}
			// Exposing again finds the same tensor and adds nothing.
			before := proto.Clone(m)
			if f2, err := onnx.ExposeFeatures(m); err != nil || f2 != f || !proto.Equal(before, m) {
				t.Errorf("second pass: %+v, %v, model changed %v", f2, err, !proto.Equal(before, m))
			}
		})
	}
}

func TestQuantization(t *testing.T) {
	q, err := onnxtest.QuantizedVGG(smallVGG(), onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	g := q.Model.GetGraph()
	for _, tt := range []struct {
		tensor string
		want   onnx.Quant
		ok     bool
	}{
		{"data_q", onnx.Quant{Scale: "in_scale", ZeroPoint: "in_zp"}, true},
		{"block1_pool", onnx.Quant{Scale: "act_scale", ZeroPoint: "act_zp"}, true},
		{"flatten", onnx.Quant{Scale: "act_scale", ZeroPoint: "act_zp"}, true},
		{"predictions", onnx.Quant{}, false}, // float, after DequantizeLinear
		{"data", onnx.Quant{}, false},        // a graph input
	} {
		if got, ok := onnx.Quantization(g, tt.tensor); got != tt.want || ok != tt.ok {
			t.Errorf("Quantization(%s) = %+v, %v; want %+v, %v", tt.tensor, got, ok, tt.want, tt.ok)
		}
	}
}

func TestExposeFeatures_QuantizedOldOpset(t *testing.T) {
	q, err := onnxtest.QuantizedVGG(smallVGG(), onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	q.Model.OpsetImport[0].Version = proto.Int64(9)
	if _, err := onnx.ExposeFeatures(q.Model); !errors.Is(err, onnx.ErrInvalidModel) {
		t.Errorf("err = %v, want ErrInvalidModel (opset 9 has no DequantizeLinear)", err)
	}
}

func TestInferShapes_Quantized(t *testing.T) {
	q, err := onnxtest.QuantizedVGG(smallVGG(), onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := onnx.InferShapes(q.Model)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int64{
		"data_q":       {-1, 3, 16, 16},
		"block1_conv1": {-1, 4, 16, 16},
		"block2_conv2": {-1, 8, 8, 8},
		"block2_pool":  {-1, 8, 4, 4},
		"flatten":      {-1, 128},
		"fc1":          {-1, 6},
		"predictions":  {-1, 5},
	} {
		if got := shapes[name]; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

func TestFindLogits(t *testing.T) {
	v, err := onnx.NewVGG(smallVGG())
	if err != nil {
		t.Fatal(err)
	}
	if v.Logits != "predictions" {
		t.Errorf("VGG.Logits = %q, want predictions", v.Logits)
	}
	got, err := onnx.FindLogits(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	if want := []onnx.Logits{{Name: "predictions", Classes: 5}}; !slices.Equal(got, want) {
		t.Errorf("FindLogits = %+v, want %+v", got, want)
	}

	// A classifier that ends in Softmax gives its input, the raw scores.
	g := v.Model.GetGraph()
	g.Node = append(g.Node, onnx.Node("Softmax", []string{"predictions"}, "prob", onnx.IntAttr("axis", 1)))
	g.Output = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("prob", 1, 5)}
	if got, err := onnx.FindLogits(v.Model); err != nil || !slices.Equal(got, []onnx.Logits{{Name: "predictions", Classes: 5}}) {
		t.Errorf("FindLogits after Softmax = %+v, %v; want predictions", got, err)
	}
	l, err := onnx.ExposeLogits(v.Model, "predictions")
	if err != nil || l != (onnx.Logits{Name: "predictions", Classes: 5}) {
		t.Fatalf("ExposeLogits = %+v, %v", l, err)
	}
	if got := outputNames(v.Model); !slices.Equal(got, []string{"prob", "predictions"}) {
		t.Errorf("outputs = %q, want prob kept and predictions added", got)
	}
	if _, err := onnx.ExposeLogits(v.Model, "block2_pool"); !errors.Is(err, onnx.ErrInvalidModel) {
		t.Errorf("ExposeLogits of a 4-D map: err = %v, want ErrInvalidModel", err)
	}

	trunk := smallVGG()
	trunk.Dense = nil
	tv, err := onnx.NewVGG(trunk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := onnx.FindLogits(tv.Model); err != nil || len(got) != 0 || tv.Logits != "" {
		t.Errorf("trunk only: FindLogits = %+v, %v, VGG.Logits %q; want none", got, err, tv.Logits)
	}
}

// TestExposeFeatures_Opset7WeightsAsInputs follows the model zoo's opset-7
// files: every weight is a graph input as well as an initializer, the
// dropout has is_test, and the classifier ends in Softmax.
func TestExposeFeatures_Opset7WeightsAsInputs(t *testing.T) {
	c := smallVGG()
	v, err := onnx.NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Model
	m.OpsetImport[0].Version = proto.Int64(7)
	m.IrVersion = proto.Int64(3)
	g := m.GetGraph()
	for _, w := range g.GetInitializer() {
		g.Input = append(g.Input, onnx.TensorValueInfo(w.GetName(), w.GetDims()...))
	}
	for i, n := range g.GetNode() {
		if n.GetName() == "fc1_relu" {
			drop := onnx.Node("Dropout", []string{"fc1_relu"}, "fc1_drop", onnx.IntAttr("is_test", 1))
			g.Node = slices.Insert(g.Node, i+1, drop)
			g.Node[i+2].Input[0] = "fc1_drop"
			break
		}
	}
	g.Node = append(g.Node, onnx.Node("Softmax", []string{"predictions"}, "prob"))
	g.Output = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("prob", 1, 5)}

	if in := onnx.GraphInputs(g); len(in) != 1 || in[0].GetName() != "data" {
		t.Errorf("GraphInputs = %d inputs, want only data", len(in))
	}
	f, err := onnx.ExposeFeatures(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := (onnx.Feature{Name: "block2_pool", C: 8, H: 4, W: 4}); f != want {
		t.Errorf("feature = %+v, want %+v", f, want)
	}
	if got, err := onnx.FindLogits(m); err != nil || !slices.Equal(got, []onnx.Logits{{Name: "predictions", Classes: 5}}) {
		t.Errorf("FindLogits = %+v, %v; want predictions", got, err)
	}
	// A weight listed as an input keeps its fixed shape: only the data
	// input's batch becomes symbolic.
	for _, in := range g.GetInput()[1:] {
		if d := in.GetType().GetTensorType().GetShape().GetDim(); len(d) > 0 && d[0].GetDimParam() != "" {
			t.Errorf("weight input %s got a symbolic first dimension", in.GetName())
		}
	}
}

func TestExposeVector(t *testing.T) {
	v, err := onnx.NewVGG(smallVGG())
	if err != nil {
		t.Fatal(err)
	}
	dims, err := onnx.ExposeVector(v.Model, "fc1", nil)
	if err != nil || !slices.Equal(dims, []int64{-1, 6}) {
		t.Fatalf("ExposeVector(fc1) = %v, %v; want [-1 6]", dims, err)
	}
	if got := outputNames(v.Model); !slices.Equal(got, []string{"block2_pool", "predictions", "fc1"}) {
		t.Errorf("outputs = %q", got)
	}
	if _, err := onnx.ExposeVector(v.Model, "block2_pool", nil); !errors.Is(err, onnx.ErrNoFeature) {
		t.Errorf("ExposeVector of a 4-D map: err = %v, want ErrNoFeature", err)
	}
}

func outputNames(m *onnxpb.ModelProto) []string {
	var names []string
	for _, o := range m.GetGraph().GetOutput() {
		names = append(names, o.GetName())
	}
	return names
}

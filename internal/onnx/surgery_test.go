package onnx

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// TestExposeFeatures_DownscaledVGG16 runs the surgery on the real VGG16
// topology with its classifier, channels divided by 16 on a 32×32 input,
// laid out as a model zoo file: batch fixed to 1, only the classifier as
// output, and MXNet-style names that give nothing away.
func TestExposeFeatures_DownscaledVGG16(t *testing.T) {
	c := VGG16Config(true)
	c.Size = 32
	for i, b := range c.Blocks {
		c.Blocks[i] = slices.Clone(b)
		for j := range b {
			c.Blocks[i][j] /= 16
		}
	}
	c.Dense = []int{256, 256, 1000}
	v, err := NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Model
	zooStyle(t, m)
	// Rename every node and tensor, as vgg16-12 names them: vgg0_conv0_fwd...
	rename := map[string]string{}
	for i, n := range m.GetGraph().GetNode() {
		n.Name = proto.String("vgg0_op" + string(rune('a'+i)) + "_fwd")
		for j, out := range n.GetOutput() {
			rename[out] = n.GetName()
			n.Output[j] = n.GetName()
		}
	}
	for _, n := range m.GetGraph().GetNode() {
		for j, in := range n.GetInput() {
			if r, ok := rename[in]; ok {
				n.Input[j] = r
			}
		}
	}
	for _, o := range m.GetGraph().GetOutput() {
		o.Name = proto.String(rename[o.GetName()])
	}
	classifier := m.GetGraph().GetOutput()[0].GetName()

	f, err := ExposeFeatures(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Feature{Name: rename["block5_pool"], C: 32, H: 1, W: 1}); f != want {
		t.Errorf("feature = %+v, want %+v", f, want)
	}
	if got, want := outputNames(m), []string{classifier, f.Name}; !slices.Equal(got, want) {
		t.Errorf("outputs = %q, want %q (classifier kept)", got, want)
	}
	g := m.GetGraph()
	for _, v := range slices.Concat(g.GetInput(), g.GetOutput()) {
		if d := v.GetType().GetTensorType().GetShape().GetDim()[0]; d.GetDimParam() != "N" {
			t.Errorf("%s: batch dimension is %v, want symbolic N", v.GetName(), d)
		}
	}
	if len(g.GetValueInfo()) != 0 {
		t.Errorf("stale value_info kept: %v", g.GetValueInfo())
	}
	dims, _ := ValueInfoDims(g.GetOutput()[1])
	if want := []int64{-1, 32, 1, 1}; !slices.Equal(dims, want) {
		t.Errorf("declared feature shape = %v, want %v", dims, want)
	}

	// A second pass changes nothing.
	before := proto.Clone(m)
	if _, err := ExposeFeatures(m); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, m) {
		t.Error("exposing twice changed the model again")
	}
}

func TestExposeFeatures_NoMaxPool(t *testing.T) {
	m := graphModel(
		[]*onnxpb.ValueInfoProto{TensorValueInfo("x", 1, 4)},
		[]*onnxpb.NodeProto{node("Relu", []string{"x"}, "y")},
		nil)
	if _, err := ExposeFeatures(m); !errors.Is(err, ErrNoFeature) {
		t.Errorf("err = %v, want ErrNoFeature", err)
	}
}

func TestExposeFeatures_PoolNotAMap(t *testing.T) {
	// A 1-D max-pool gives N×C×L, not a C×H×W map.
	m := graphModel(
		[]*onnxpb.ValueInfoProto{TensorValueInfo("x", 1, 4, 8)},
		[]*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 2), IntsAttr("strides", 2))},
		nil)
	if _, err := ExposeFeatures(m); !errors.Is(err, ErrNoFeature) {
		t.Errorf("err = %v, want ErrNoFeature", err)
	}
}

func TestExposeFeatures_ReshapeWithFixedBatch(t *testing.T) {
	// Flatten written as Reshape(x, [1, -1]) only works for batch 1; the
	// edit must make it copy the batch instead.
	shape := &onnxpb.TensorProto{Name: proto.String("shape"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{2}, Int64Data: []int64{1, -1}}
	m := graphModel(
		[]*onnxpb.ValueInfoProto{TensorValueInfo("x", 1, 2, 4, 4)},
		[]*onnxpb.NodeProto{
			node("MaxPool", []string{"x"}, "pool", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2)),
			node("Reshape", []string{"pool", "shape"}, "flat"),
		},
		[]*onnxpb.TensorProto{shape})
	m.Graph.Output = []*onnxpb.ValueInfoProto{TensorValueInfo("flat", 1, 8)}
	f, err := ExposeFeatures(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Feature{Name: "pool", C: 2, H: 2, W: 2}); f != want {
		t.Errorf("feature = %+v, want %+v", f, want)
	}
	if got := shape.GetInt64Data(); !slices.Equal(got, []int64{0, -1}) {
		t.Errorf("reshape target = %v, want [0 -1]", got)
	}
}

// graphModel wraps nodes in a model with one output (the last node's).
func graphModel(in []*onnxpb.ValueInfoProto, nodes []*onnxpb.NodeProto, init []*onnxpb.TensorProto) *onnxpb.ModelProto {
	last := nodes[len(nodes)-1].GetOutput()[0]
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"), Input: in, Node: nodes, Initializer: init,
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String(last)}},
		},
	}
}

func node(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return Node(op, in, out, attrs...)
}

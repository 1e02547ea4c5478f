package onnx

import (
	"errors"
	"fmt"
	"slices"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// Feature names a feature-map tensor and its size per image (C×H×W).
type Feature struct {
	Name    string
	C, H, W int
}

// ErrNoFeature is returned when a graph has no usable feature map: no
// MaxPool, or one whose output is not a known C×H×W map.
var ErrNoFeature = errors.New("no feature map found")

// ExposeFeatures finds the last MaxPool of m's graph, checks by shape
// inference that it yields an N×C×H×W map, and makes it a graph output
// (the existing outputs, such as a classifier, stay). It also makes the
// first dimension of every graph input and output symbolic ("N") so that
// any batch size runs, rewrites a Reshape that hard-codes that batch, and
// drops the intermediate value_info, which the edit would make stale.
func ExposeFeatures(m *onnxpb.ModelProto) (Feature, error) {
	g := m.GetGraph()
	if g == nil {
		return Feature{}, fmt.Errorf("%w: no graph", ErrInvalidModel)
	}
	last := -1
	for i, n := range g.GetNode() {
		if n.GetOpType() == "MaxPool" && len(n.GetOutput()) > 0 {
			last = i
		}
	}
	if last < 0 {
		return Feature{}, fmt.Errorf("%w: the graph has no MaxPool", ErrNoFeature)
	}
	name := g.GetNode()[last].GetOutput()[0]
	dims, err := ExposeOutput(m, name, nil)
	if err != nil {
		return Feature{}, err
	}
	return Feature{Name: name, C: int(dims[1]), H: int(dims[2]), W: int(dims[3])}, nil
}

// ExposeOutput makes the tensor name a graph output after checking that it
// is a 4-D map with a symbolic batch; input shapes may be overridden for
// inference. It returns the tensor's shape.
func ExposeOutput(m *onnxpb.ModelProto, name string, override map[string][]int64) ([]int64, error) {
	g := m.GetGraph()
	batchSymbolic(g)
	shapes, err := inferShapes(g, override)
	if err != nil {
		return nil, err
	}
	dims, ok := shapes[name]
	if !ok {
		return nil, fmt.Errorf("%w: cannot work out the shape of %q", ErrNoFeature, name)
	}
	if len(dims) != 4 || dims[1] <= 0 || dims[2] <= 0 || dims[3] <= 0 {
		return nil, fmt.Errorf("%w: %q has shape %v, want N×C×H×W", ErrNoFeature, name, dims)
	}
	out := TensorValueInfo(name, -1, dims[1], dims[2], dims[3])
	if i := slices.IndexFunc(g.GetOutput(), func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name }); i >= 0 {
		g.Output[i] = out
	} else {
		g.Output = append(g.Output, out)
	}
	g.ValueInfo = nil
	return dims, nil
}

// batchSymbolic makes the first dimension of graph inputs and outputs
// symbolic. A Reshape whose constant target starts with the old fixed
// batch (as some exporters write [1, -1] to flatten) would then fail for
// other batch sizes, so such a leading 1 becomes 0 ("copy the input's").
func batchSymbolic(g *onnxpb.GraphProto) {
	fixed := map[int64]bool{}
	for _, v := range slices.Concat(GraphInputs(g), g.GetOutput()) {
		shape := v.GetType().GetTensorType().GetShape()
		if shape == nil || len(shape.GetDim()) == 0 {
			continue
		}
		if d := shape.GetDim()[0].GetDimValue(); d > 0 {
			fixed[d] = true
		}
		shape.Dim[0] = dimProto(-1)
	}
	if !fixed[1] {
		return
	}
	users := map[string][]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			users[in] = append(users[in], n)
		}
	}
	for _, t := range g.GetInitializer() {
		us := users[t.GetName()]
		if len(us) == 0 || t.GetDataType() != int32(onnxpb.TensorProto_INT64) {
			continue
		}
		onlyShape := true
		for _, n := range us {
			onlyShape = onlyShape && n.GetOpType() == "Reshape" && len(n.GetInput()) > 1 &&
				n.GetInput()[1] == t.GetName() && attrInt(n, "allowzero", 0) == 0
		}
		v, ok := int64Data(t)
		if !onlyShape || !ok || len(v) < 2 || v[0] != 1 {
			continue
		}
		v[0] = 0
		t.Int64Data, t.RawData = v, nil
	}
}

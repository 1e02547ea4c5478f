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
//
// In a quantized model whose last MaxPool runs on 8-bit integers, the
// feature is the float tensor after it: the output of the
// DequantizeLinear that reads the pool when there is one, else of a
// DequantizeLinear added with the scale and zero point of the quantized
// tensor the pool reads (see Quantization).
func ExposeFeatures(m *onnxpb.ModelProto) (Feature, error) {
	name, err := FeatureTensor(m)
	if err != nil {
		return Feature{}, err
	}
	dims, err := ExposeOutput(m, name, nil)
	if err != nil {
		return Feature{}, err
	}
	return Feature{Name: name, C: int(dims[1]), H: int(dims[2]), W: int(dims[3])}, nil
}

// FeatureTensor returns the float tensor of the last MaxPool of m's graph:
// its output, or in an int8 model the dequantized output (adding the
// DequantizeLinear when the graph has none, see ExposeFeatures).
func FeatureTensor(m *onnxpb.ModelProto) (string, error) {
	g := m.GetGraph()
	if g == nil {
		return "", fmt.Errorf("%w: no graph", ErrInvalidModel)
	}
	last := -1
	for i, n := range g.GetNode() {
		if n.GetOpType() == "MaxPool" && len(n.GetOutput()) > 0 && len(n.GetInput()) > 0 {
			last = i
		}
	}
	if last < 0 {
		return "", fmt.Errorf("%w: the graph has no MaxPool", ErrNoFeature)
	}
	pool := g.GetNode()[last]
	name := pool.GetOutput()[0]
	if q, ok := Quantization(g, pool.GetInput()[0]); ok {
		return dequantized(m, name, q)
	}
	return name, nil
}

// ExposeOutput makes the tensor name a graph output after checking that it
// is a 4-D map with a symbolic batch; input shapes may be overridden for
// inference. It returns the tensor's shape.
func ExposeOutput(m *onnxpb.ModelProto, name string, override map[string][]int64) ([]int64, error) {
	return expose(m, name, override, 4, "N×C×H×W")
}

// ExposeVector makes the tensor name a graph output after checking that it
// is an N×D matrix, one vector per image (an image encoder's embedding);
// input shapes may be overridden for inference. It returns the shape.
func ExposeVector(m *onnxpb.ModelProto, name string, override map[string][]int64) ([]int64, error) {
	return expose(m, name, override, 2, "N×D")
}

func expose(m *onnxpb.ModelProto, name string, override map[string][]int64, rank int, want string) ([]int64, error) {
	g := m.GetGraph()
	batchSymbolic(g)
	dims, ok, err := TensorDims(m, name, override)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: cannot work out the shape of %q", ErrNoFeature, name)
	}
	if len(dims) != rank || slices.ContainsFunc(dims[1:], func(d int64) bool { return d <= 0 }) {
		return nil, fmt.Errorf("%w: %q has shape %v, want %s", ErrNoFeature, name, dims, want)
	}
	setOutput(g, TensorValueInfo(name, slices.Concat([]int64{-1}, dims[1:])...))
	g.ValueInfo = nil
	return dims, nil
}

// TensorDims returns the shape of the tensor name: by inference (with
// some input shapes given), else as declared when it is a graph output,
// which covers operators that inference does not know (an encoder's
// attention, say). ok is false when neither says.
func TensorDims(m *onnxpb.ModelProto, name string, override map[string][]int64) (dims []int64, ok bool, err error) {
	shapes, err := inferShapes(m.GetGraph(), override)
	if err != nil {
		return nil, false, err
	}
	if dims, ok := shapes[name]; ok {
		return dims, true, nil
	}
	for _, o := range m.GetGraph().GetOutput() {
		if o.GetName() == name {
			if dims, ok := ValueInfoDims(o); ok {
				return dims, true, nil
			}
		}
	}
	return nil, false, nil
}

// setOutput replaces the graph output of v's name, or adds v.
func setOutput(g *onnxpb.GraphProto, v *onnxpb.ValueInfoProto) {
	if i := slices.IndexFunc(g.GetOutput(), func(o *onnxpb.ValueInfoProto) bool { return o.GetName() == v.GetName() }); i >= 0 {
		g.Output[i] = v
	} else {
		g.Output = append(g.Output, v)
	}
}

// Logits names a classifier output: N×Classes scores per image.
type Logits struct {
	Name    string
	Classes int
}

// FindLogits returns the graph outputs of m that are N×K matrices with
// K > 1, the form of a classifier's output. One computed by a Softmax (or
// LogSoftmax) is given as the Softmax's input, the raw scores. Shapes come
// from inference, else from the outputs' declarations (which covers
// operators inference does not know).
func FindLogits(m *onnxpb.ModelProto) ([]Logits, error) {
	g := m.GetGraph()
	shapes, err := inferShapes(g, nil)
	if err != nil {
		return nil, err
	}
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	var out []Logits
	for _, o := range g.GetOutput() {
		name := o.GetName()
		dims, ok := shapes[name]
		if !ok {
			dims, _ = ValueInfoDims(o)
		}
		if len(dims) != 2 || dims[1] <= 1 {
			continue
		}
		if p := producer[name]; p != nil && (p.GetOpType() == "Softmax" || p.GetOpType() == "LogSoftmax") && len(p.GetInput()) > 0 {
			if in := shapes[p.GetInput()[0]]; len(in) == 2 && in[1] == dims[1] {
				name = p.GetInput()[0]
			}
		}
		if !slices.ContainsFunc(out, func(l Logits) bool { return l.Name == name }) {
			out = append(out, Logits{Name: name, Classes: int(dims[1])})
		}
	}
	return out, nil
}

// ExposeLogits makes the tensor name, a classifier's N×K scores, a graph
// output, and returns it with K.
func ExposeLogits(m *onnxpb.ModelProto, name string) (Logits, error) {
	g := m.GetGraph()
	dims, ok, err := TensorDims(m, name, nil)
	if err != nil {
		return Logits{}, err
	}
	if !ok {
		return Logits{}, fmt.Errorf("%w: cannot work out the shape of classifier output %q", ErrInvalidModel, name)
	}
	if len(dims) != 2 || dims[1] <= 1 {
		return Logits{}, fmt.Errorf("%w: classifier output %q has shape %v, want N×classes", ErrInvalidModel, name, dims)
	}
	setOutput(g, TensorValueInfo(name, -1, dims[1]))
	return Logits{Name: name, Classes: int(dims[1])}, nil
}

// Quant is how an 8-bit tensor maps to real values: real = (q - ZeroPoint)
// · Scale, both given as tensor names (ZeroPoint may be "", meaning 0).
type Quant struct {
	Scale, ZeroPoint string
}

// Quantization reports whether tensor holds quantized (8-bit) values in
// g, and with which scale and zero point: it follows the tensor back
// through operators that keep the quantization (MaxPool, Relu, Reshape,
// Flatten, Transpose...) to the QuantizeLinear or QLinear* operator that
// produced it (its y_scale and y_zero_point).
func Quantization(g *onnxpb.GraphProto, tensor string) (Quant, bool) {
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	arg := func(n *onnxpb.NodeProto, i int) string {
		if i < len(n.GetInput()) {
			return n.GetInput()[i]
		}
		return ""
	}
	for range len(g.GetNode()) {
		n := producer[tensor]
		if n == nil {
			return Quant{}, false
		}
		switch n.GetOpType() {
		case "QuantizeLinear":
			return Quant{Scale: arg(n, 1), ZeroPoint: arg(n, 2)}, arg(n, 1) != ""
		case "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul":
			// x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, ...
			return Quant{Scale: arg(n, 6), ZeroPoint: arg(n, 7)}, arg(n, 6) != ""
		case "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearLeakyRelu", "QLinearSigmoid":
			// x, x_scale, x_zp, y_scale, y_zp
			return Quant{Scale: arg(n, 3), ZeroPoint: arg(n, 4)}, arg(n, 3) != ""
		case "QLinearConcat":
			return Quant{Scale: arg(n, 0), ZeroPoint: arg(n, 1)}, arg(n, 0) != ""
		case "MaxPool", "Relu", "Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze":
			tensor = arg(n, 0)
		default:
			return Quant{}, false
		}
	}
	return Quant{}, false
}

// dequantized returns the float tensor of the quantized tensor name: the
// output of a DequantizeLinear that reads it, or of one added for it.
func dequantized(m *onnxpb.ModelProto, name string, q Quant) (string, error) {
	g := m.GetGraph()
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "DequantizeLinear" && len(n.GetInput()) > 0 && n.GetInput()[0] == name && len(n.GetOutput()) > 0 {
			return n.GetOutput()[0], nil
		}
		for _, o := range n.GetOutput() {
			used[o] = true
		}
	}
	if v := opsetVersion(m, ""); v < 10 {
		return "", fmt.Errorf("%w: quantized %q in opset %d, which has no DequantizeLinear", ErrInvalidModel, name, v)
	}
	out := name + "_dequantized"
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s_dequantized%d", name, i)
	}
	in := []string{name, q.Scale}
	if q.ZeroPoint != "" {
		in = append(in, q.ZeroPoint)
	}
	g.Node = append(g.Node, Node("DequantizeLinear", in, out))
	return out, nil
}

// opsetVersion is the version of the operator set domain ("" is the
// default ONNX domain) that m imports, 0 when none.
func opsetVersion(m *onnxpb.ModelProto, domain string) int64 {
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == domain || domain == "" && d == "ai.onnx" {
			return o.GetVersion()
		}
	}
	return 0
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

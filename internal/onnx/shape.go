package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// maxDim bounds every dimension, pad and stride read from a graph so that
// arithmetic on hostile files cannot overflow.
const maxDim = 1 << 32

// unknownDim stands in a shape value for a dimension not known at load
// time, which -1 cannot do: a Reshape reads -1 as "infer this one".
const unknownDim = math.MinInt64

// InferShapes follows m's graph from its inputs and returns the shape of
// every tensor it can work out, by name. A symbolic or unknown dimension
// (the batch) is -1. Tensors produced by operators it does not know are
// left out; shapes that contradict each other (a Conv whose weights do not
// match its input channels, say) are an error wrapping ErrInvalidModel.
//
// It knows the operators of VGG-like networks and of common exports of
// them: Conv, MaxPool, AveragePool, Global*Pool, Relu and other
// element-wise operators, Dropout, BatchNormalization, Flatten, Gemm,
// MatMul, Reshape, Transpose, Concat, Squeeze, Unsqueeze, ReduceMean/Max,
// Constant, Shape and Gather; and the quantized forms of an int8 export:
// QuantizeLinear, DequantizeLinear, QLinearConv, ConvInteger,
// QLinearMatMul, MatMulInteger, QGemm, QLinearAdd/Mul and
// QLinearGlobalAveragePool.
func InferShapes(m *onnxpb.ModelProto) (map[string][]int64, error) {
	return inferShapes(m.GetGraph(), nil)
}

// inferShapes is InferShapes with some input shapes overridden, for models
// whose inputs declare symbolic sizes.
func inferShapes(g *onnxpb.GraphProto, override map[string][]int64) (map[string][]int64, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: no graph", ErrInvalidModel)
	}
	s := &shapeState{shapes: map[string][]int64{}, consts: map[string][]int64{}}
	for _, t := range g.GetInitializer() {
		dims := t.GetDims()
		if err := checkDims(dims); err != nil {
			return nil, fmt.Errorf("%w: initializer %q: %v", ErrInvalidModel, t.GetName(), err)
		}
		s.shapes[t.GetName()] = append([]int64{}, dims...) // a scalar is [], not unknown
		if v, ok := int64Data(t); ok {
			s.consts[t.GetName()] = v
		}
	}
	for _, v := range GraphInputs(g) {
		if dims, ok := override[v.GetName()]; ok {
			s.shapes[v.GetName()] = slices.Clone(dims)
			continue
		}
		if dims, ok := ValueInfoDims(v); ok {
			if err := checkDims(dims); err != nil {
				return nil, fmt.Errorf("%w: input %q: %v", ErrInvalidModel, v.GetName(), err)
			}
			s.shapes[v.GetName()] = dims
		}
	}
	for i, n := range g.GetNode() {
		if err := s.node(n); err != nil {
			name := n.GetName()
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return nil, fmt.Errorf("%w: node %s (%s): %v", ErrInvalidModel, name, n.GetOpType(), err)
		}
	}
	return s.shapes, nil
}

type shapeState struct {
	shapes map[string][]int64
	consts map[string][]int64 // small int64 tensors known at load time
}

func checkDims(dims []int64) error {
	if len(dims) > 16 {
		return fmt.Errorf("rank %d is too large", len(dims))
	}
	for _, d := range dims {
		if d > maxDim {
			return fmt.Errorf("dimension %d is too large", d)
		}
	}
	return nil
}

// int64Data returns the values of a small INT64 tensor.
func int64Data(t *onnxpb.TensorProto) ([]int64, bool) {
	if t.GetDataType() != int32(onnxpb.TensorProto_INT64) {
		return nil, false
	}
	if len(t.GetInt64Data()) > 0 {
		return slices.Clone(t.GetInt64Data()), true
	}
	raw := t.GetRawData()
	if len(raw)%8 != 0 || len(raw) > 8*64 {
		return nil, false
	}
	v := make([]int64, len(raw)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return v, true
}

// in returns the shape of input i of n, or nil if it is absent or unknown.
func (s *shapeState) in(n *onnxpb.NodeProto, i int) []int64 {
	if i < 0 || i >= len(n.GetInput()) {
		return nil
	}
	return s.shapes[n.GetInput()[i]]
}

func (s *shapeState) set(n *onnxpb.NodeProto, i int, dims []int64) error {
	if i >= len(n.GetOutput()) || n.GetOutput()[i] == "" {
		return nil
	}
	if err := checkDims(dims); err != nil {
		return err
	}
	if dims == nil {
		dims = []int64{} // a scalar: known, of rank 0
	}
	s.shapes[n.GetOutput()[i]] = dims
	return nil
}

// setConst records the value of n's first output when it is known at load
// time (shape arithmetic feeding a Reshape).
func (s *shapeState) setConst(n *onnxpb.NodeProto, v []int64) {
	if len(n.GetOutput()) > 0 {
		s.consts[n.GetOutput()[0]] = v
	}
}

func (s *shapeState) node(n *onnxpb.NodeProto) error {
	x := s.in(n, 0)
	switch n.GetOpType() {
	case "Constant":
		for _, a := range n.GetAttribute() {
			if a.GetName() == "value" && a.GetT() != nil {
				if err := s.set(n, 0, append([]int64{}, a.GetT().GetDims()...)); err != nil {
					return err
				}
				if v, ok := int64Data(a.GetT()); ok {
					s.setConst(n, v)
				}
			}
		}
		return nil
	case "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "Tanh",
		"Softmax", "LogSoftmax", "Clip", "Identity", "Dropout", "BatchNormalization",
		"InstanceNormalization", "LRN", "LpNormalization", "Cast", "Sqrt", "Exp", "Log",
		"Neg", "Abs", "Erf", "Reciprocal", "Floor", "Ceil",
		"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearLeakyRelu", "QLinearSigmoid":
		if x == nil {
			return nil
		}
		return s.set(n, 0, slices.Clone(x))
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean":
		var out []int64
		for i := range n.GetInput() {
			d := s.in(n, i)
			if d == nil {
				return nil
			}
			var err error
			if out, err = broadcast(out, d); err != nil {
				return err
			}
		}
		return s.set(n, 0, out)
	case "Conv":
		return s.conv(n, x, 1, 2)
	case "ConvInteger":
		return s.conv(n, x, 1, -1)
	case "QLinearConv": // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B
		return s.conv(n, x, 3, 8)
	case "QLinearAdd", "QLinearMul": // a, a_scale, a_zp, b, b_scale, b_zp, ...
		if b := s.in(n, 3); x != nil && b != nil {
			out, err := broadcast(x, b)
			if err != nil {
				return err
			}
			return s.set(n, 0, out)
		}
		return nil
	case "MaxPool", "AveragePool", "LpPool":
		if x == nil {
			return nil
		}
		if len(x) < 3 {
			return fmt.Errorf("input rank %d, want at least 3", len(x))
		}
		out, err := pooled(n, x, AttrInts(n, "kernel_shape"))
		if err != nil {
			return err
		}
		return s.set(n, 0, out)
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "QLinearGlobalAveragePool":
		if len(x) < 3 || attrInt(n, "channels_last", 0) != 0 {
			return nil
		}
		out := slices.Clone(x)
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
		return s.set(n, 0, out)
	case "Flatten":
		if x == nil {
			return nil
		}
		axis := attrInt(n, "axis", 1)
		if axis < 0 {
			axis += int64(len(x))
		}
		if axis < 0 || axis > int64(len(x)) {
			return fmt.Errorf("axis %d out of range for rank %d", axis, len(x))
		}
		return s.set(n, 0, []int64{product(x[:axis]), product(x[axis:])})
	case "Gemm":
		return s.gemm(n, x, 1, 2)
	case "QGemm": // a, a_scale, a_zp, b, b_scale, b_zp, C, y_scale, y_zp
		return s.gemm(n, x, 3, 6)
	case "MatMul", "MatMulInteger":
		return s.matmul(n, x, 1)
	case "QLinearMatMul": // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
		return s.matmul(n, x, 3)
	case "Reshape":
		return s.reshape(n, x)
	case "Transpose":
		if x == nil {
			return nil
		}
		perm := AttrInts(n, "perm")
		if perm == nil {
			for i := len(x) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		if len(perm) != len(x) {
			return fmt.Errorf("perm %v for rank %d", perm, len(x))
		}
		out := make([]int64, len(x))
		for i, p := range perm {
			if p < 0 || p >= int64(len(x)) {
				return fmt.Errorf("perm %v out of range", perm)
			}
			out[i] = x[p]
		}
		return s.set(n, 0, out)
	case "Concat":
		return s.concat(n)
	case "Squeeze", "Unsqueeze", "ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin":
		return s.axesOp(n, x)
	case "Shape":
		if x == nil {
			return nil
		}
		v := slices.Clone(x)
		for i := range v {
			if v[i] < 0 {
				v[i] = unknownDim
			}
		}
		s.setConst(n, v)
		return s.set(n, 0, []int64{int64(len(x))})
	case "Gather":
		return s.gather(n, x)
	}
	return nil // unknown operator: its outputs stay unknown
}

// broadcast applies numpy broadcasting to two shapes; nil a is a scalar
// identity for folding.
func broadcast(a, b []int64) ([]int64, error) {
	if a == nil {
		return slices.Clone(b), nil
	}
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := range r {
		da, db := int64(1), int64(1)
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		case da < 0 || db < 0:
			out[i] = max(da, db)
		default:
			return nil, fmt.Errorf("cannot broadcast %v with %v", a, b)
		}
	}
	return out, nil
}

func product(d []int64) int64 {
	p := int64(1)
	for _, v := range d {
		if v < 0 {
			return -1
		}
		p *= v
		if p > maxDim {
			return -1
		}
	}
	return p
}

// pooled computes the output shape of a sliding-window operator (Conv or a
// pool) over NC[spatial...] input x with the given kernel size.
func pooled(n *onnxpb.NodeProto, x, kernel []int64) ([]int64, error) {
	sp := len(x) - 2
	if len(kernel) != sp {
		return nil, fmt.Errorf("kernel %v for %d spatial dims", kernel, sp)
	}
	strides := AttrInts(n, "strides")
	dil := AttrInts(n, "dilations")
	pads := AttrInts(n, "pads")
	autoPad := attrString(n, "auto_pad")
	ceil := attrInt(n, "ceil_mode", 0) == 1
	if strides != nil && len(strides) != sp || dil != nil && len(dil) != sp || pads != nil && len(pads) != 2*sp {
		return nil, fmt.Errorf("strides %v, dilations %v, pads %v do not fit %d spatial dims", strides, dil, pads, sp)
	}
	out := slices.Clone(x[:2])
	for i := range sp {
		k, s, d := kernel[i], int64(1), int64(1)
		if strides != nil {
			s = strides[i]
		}
		if dil != nil {
			d = dil[i]
		}
		var pb, pe int64
		if pads != nil {
			pb, pe = pads[i], pads[i+sp]
		}
		for _, v := range []int64{k, s, d, pb, pe} {
			if v < 0 || v > maxDim {
				return nil, fmt.Errorf("kernel, stride, dilation or pad %d out of range", v)
			}
		}
		if k == 0 || s == 0 || d == 0 {
			return nil, fmt.Errorf("zero kernel, stride or dilation")
		}
		in := x[i+2]
		if in < 0 {
			out = append(out, -1)
			continue
		}
		span := (k-1)*d + 1
		var o int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (in + s - 1) / s
		case "VALID":
			o = (in-span)/s + 1
			if in < span {
				o = 0
			}
		default:
			num := in + pb + pe - span
			if num < 0 {
				return nil, fmt.Errorf("window %d larger than padded input %d", span, in+pb+pe)
			}
			if ceil {
				o = (num+s-1)/s + 1
			} else {
				o = num/s + 1
			}
		}
		if o <= 0 {
			return nil, fmt.Errorf("empty output for input %d", in)
		}
		out = append(out, o)
	}
	return out, nil
}

// conv infers a convolution whose weights and bias are inputs wi and bi
// (bi < 0: none), which differ between Conv and its quantized forms.
func (s *shapeState) conv(n *onnxpb.NodeProto, x []int64, wi, bi int) error {
	w := s.in(n, wi)
	if x == nil || w == nil {
		return nil
	}
	if len(x) < 3 || len(w) != len(x) {
		return fmt.Errorf("input %v and weights %v ranks differ", x, w)
	}
	group := attrInt(n, "group", 1)
	if group <= 0 || w[0]%group != 0 {
		return fmt.Errorf("group %d does not divide %d filters", group, w[0])
	}
	if x[1] >= 0 && x[1] != w[1]*group {
		return fmt.Errorf("input has %d channels, weights %v expect %d", x[1], w, w[1]*group)
	}
	if b := s.in(n, bi); b != nil && (len(b) != 1 || b[0] != w[0]) {
		return fmt.Errorf("bias %v for %d filters", b, w[0])
	}
	kernel := AttrInts(n, "kernel_shape")
	if kernel == nil {
		kernel = w[2:]
	} else if !slices.Equal(kernel, w[2:]) {
		return fmt.Errorf("kernel_shape %v but weights %v", kernel, w)
	}
	out, err := pooled(n, x, kernel)
	if err != nil {
		return err
	}
	out[1] = w[0]
	return s.set(n, 0, out)
}

// gemm infers a Gemm (or QGemm) whose B and C are inputs bi and ci.
func (s *shapeState) gemm(n *onnxpb.NodeProto, a []int64, bi, ci int) error {
	b := s.in(n, bi)
	if a == nil || b == nil {
		return nil
	}
	if len(a) != 2 || len(b) != 2 {
		return fmt.Errorf("operands %v and %v are not matrices", a, b)
	}
	m, ka := a[0], a[1]
	if attrInt(n, "transA", 0) != 0 {
		m, ka = a[1], a[0]
	}
	kb, nn := b[0], b[1]
	if attrInt(n, "transB", 0) != 0 {
		kb, nn = b[1], b[0]
	}
	if ka >= 0 && kb >= 0 && ka != kb {
		return fmt.Errorf("inner dimensions %d and %d differ", ka, kb)
	}
	if c := s.in(n, ci); c != nil {
		if _, err := broadcast([]int64{m, nn}, c); err != nil {
			return fmt.Errorf("bias: %v", err)
		}
	}
	return s.set(n, 0, []int64{m, nn})
}

// matmul infers a MatMul (or a quantized one) whose B is input bi.
func (s *shapeState) matmul(n *onnxpb.NodeProto, a []int64, bi int) error {
	b := s.in(n, bi)
	if a == nil || b == nil || len(a) < 2 || len(b) < 2 {
		return nil // vector operands are rare in VGG-like graphs
	}
	if ka, kb := a[len(a)-1], b[len(b)-2]; ka >= 0 && kb >= 0 && ka != kb {
		return fmt.Errorf("inner dimensions %d and %d differ", ka, kb)
	}
	batch, err := broadcast(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return err
	}
	return s.set(n, 0, append(batch, a[len(a)-2], b[len(b)-1]))
}

func (s *shapeState) reshape(n *onnxpb.NodeProto, x []int64) error {
	if x == nil || len(n.GetInput()) < 2 {
		return nil
	}
	target, ok := s.consts[n.GetInput()[1]]
	if !ok {
		return nil
	}
	if len(target) > 16 {
		return fmt.Errorf("target shape of rank %d", len(target))
	}
	// total(x) = copied · rest and total(out) = copied · known · inferred,
	// so the inferred size is rest/known even when the copied batch is
	// unknown.
	out := make([]int64, len(target))
	copied := make([]bool, len(x))
	infer := -1
	known := int64(1)
	allowZero := attrInt(n, "allowzero", 0) == 1
	for i, d := range target {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x) {
				return fmt.Errorf("shape %v copies dim %d of rank %d input", target, i, len(x))
			}
			out[i], copied[i] = x[i], true
		case d == -1:
			if infer >= 0 {
				return fmt.Errorf("shape %v has two -1", target)
			}
			infer = i
		case d == unknownDim:
			out[i], known = -1, -1
		case d < 0 || d > maxDim:
			return fmt.Errorf("shape %v has a size out of range", target)
		default:
			out[i] = d
			if known >= 0 {
				known = product([]int64{known, d})
			}
		}
	}
	rest := int64(1)
	for j, d := range x {
		if !copied[j] && rest >= 0 {
			rest = product([]int64{rest, d})
		}
	}
	if infer >= 0 {
		out[infer] = -1
		if rest >= 0 && known > 0 {
			if rest%known != 0 {
				return fmt.Errorf("cannot reshape %v to %v", x, target)
			}
			out[infer] = rest / known
		}
	} else if rest >= 0 && known >= 0 && rest != known {
		return fmt.Errorf("cannot reshape %v to %v", x, target)
	}
	return s.set(n, 0, out)
}

func (s *shapeState) concat(n *onnxpb.NodeProto) error {
	var vals []int64
	allConst := true
	var out []int64
	axis := attrInt(n, "axis", 0)
	for i, name := range n.GetInput() {
		v, ok := s.consts[name]
		allConst = allConst && ok
		vals = append(vals, v...)
		d := s.in(n, i)
		if d == nil {
			return nil
		}
		if i == 0 {
			out = slices.Clone(d)
			if axis < 0 {
				axis += int64(len(d))
			}
			if axis < 0 || axis >= int64(len(d)) {
				return fmt.Errorf("axis %d out of range for %v", axis, d)
			}
			continue
		}
		if len(d) != len(out) {
			return fmt.Errorf("ranks of %v and %v differ", out, d)
		}
		if out[axis] >= 0 && d[axis] >= 0 {
			out[axis] = product([]int64{1, out[axis] + d[axis]})
		} else {
			out[axis] = -1
		}
	}
	if allConst && len(vals) <= 64 {
		s.setConst(n, vals)
	}
	return s.set(n, 0, out)
}

// axesOp handles the operators whose effect is described by a list of axes,
// given as an attribute (older opsets) or a constant second input.
func (s *shapeState) axesOp(n *onnxpb.NodeProto, x []int64) error {
	if x == nil {
		return nil
	}
	axes := AttrInts(n, "axes")
	if axes == nil && len(n.GetInput()) > 1 {
		v, ok := s.consts[n.GetInput()[1]]
		if !ok {
			return nil
		}
		axes = v
	}
	op := n.GetOpType()
	rank := int64(len(x))
	if op == "Unsqueeze" {
		rank += int64(len(axes))
	}
	norm := make([]int64, 0, len(axes))
	for _, a := range axes {
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank {
			return fmt.Errorf("axis %d out of range", a)
		}
		norm = append(norm, a)
	}
	var out []int64
	switch op {
	case "Unsqueeze":
		src := 0
		for i := range rank {
			if slices.Contains(norm, i) {
				out = append(out, 1)
			} else if src < len(x) {
				out = append(out, x[src])
				src++
			}
		}
		if v, ok := s.consts[n.GetInput()[0]]; ok {
			s.setConst(n, v)
		}
	case "Squeeze":
		for i, d := range x {
			if (len(norm) == 0 && d == 1) || slices.Contains(norm, int64(i)) {
				continue
			}
			out = append(out, d)
		}
		if v, ok := s.consts[n.GetInput()[0]]; ok {
			s.setConst(n, v)
		}
	default: // Reduce*
		keep := attrInt(n, "keepdims", 1) == 1
		for i, d := range x {
			if len(norm) == 0 || slices.Contains(norm, int64(i)) {
				if keep {
					out = append(out, 1)
				}
				continue
			}
			out = append(out, d)
		}
	}
	if out == nil {
		out = []int64{}
	}
	return s.set(n, 0, out)
}

func (s *shapeState) gather(n *onnxpb.NodeProto, x []int64) error {
	if x == nil || len(n.GetInput()) < 2 {
		return nil
	}
	idxShape := s.in(n, 1)
	if idxShape == nil {
		return nil
	}
	axis := attrInt(n, "axis", 0)
	if axis < 0 {
		axis += int64(len(x))
	}
	if axis < 0 || axis >= int64(len(x)) {
		return fmt.Errorf("axis %d out of range for %v", axis, x)
	}
	out := slices.Concat(x[:axis], idxShape, x[axis+1:])
	if data, ok := s.consts[n.GetInput()[0]]; ok && len(x) == 1 {
		if idx, ok := s.consts[n.GetInput()[1]]; ok {
			var vals []int64
			for _, i := range idx {
				if i < 0 {
					i += int64(len(data))
				}
				if i < 0 || i >= int64(len(data)) {
					return fmt.Errorf("index %d out of range", i)
				}
				vals = append(vals, data[i])
			}
			s.setConst(n, vals)
		}
	}
	return s.set(n, 0, out)
}

// numel is the number of elements of a shape with known dims, saturating
// instead of overflowing.
func numel(d []int64) int64 {
	p := int64(1)
	for _, v := range d {
		if v < 0 {
			return 0
		}
		if v != 0 && p > math.MaxInt64/v {
			return math.MaxInt64
		}
		p *= v
	}
	return p
}

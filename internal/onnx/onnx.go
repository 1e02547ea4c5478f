package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/atomicfile"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// ErrInvalidModel is returned when bytes do not hold a usable ONNX model:
// not protobuf, no graph, or a graph this package cannot follow.
var ErrInvalidModel = errors.New("invalid onnx model")

// ReadModel reads and decodes an ONNX file.
func ReadModel(path string) (*onnxpb.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := DecodeModel(b)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", path, err)
	}
	return m, nil
}

// DecodeModel decodes an ONNX model from its protobuf bytes and checks
// that it has a graph with at least one input, one output and one node.
func DecodeModel(b []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	g := m.GetGraph()
	switch {
	case g == nil:
		return nil, fmt.Errorf("%w: no graph", ErrInvalidModel)
	case len(g.GetNode()) == 0:
		return nil, fmt.Errorf("%w: graph has no nodes", ErrInvalidModel)
	case len(g.GetOutput()) == 0:
		return nil, fmt.Errorf("%w: graph has no outputs", ErrInvalidModel)
	}
	return m, nil
}

// EncodeModel returns the protobuf bytes of m. The encoding is
// deterministic: the same model always gives the same bytes.
func EncodeModel(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return b, nil
}

// WriteModel writes m to path atomically: readers see the old file or the
// complete new one, never a torn write.
func WriteModel(path string, m *onnxpb.ModelProto) error {
	b, err := EncodeModel(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

// batchParam is the symbolic name given to the batch dimension.
const batchParam = "N"

// TensorValueInfo describes a float tensor; a negative dim is symbolic
// and named batchParam.
func TensorValueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, dimProto(d))
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    shape,
		}}},
	}
}

func dimProto(d int64) *onnxpb.TensorShapeProto_Dimension {
	if d < 0 {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: batchParam}}
	}
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
}

// ValueInfoDims returns the declared dims of a tensor value; unknown or
// symbolic dims are -1. ok is false when no shape is declared.
func ValueInfoDims(v *onnxpb.ValueInfoProto) (dims []int64, ok bool) {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.GetShape() == nil {
		return nil, false
	}
	for _, d := range tt.GetShape().GetDim() {
		if dv, isVal := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); isVal && dv.DimValue > 0 {
			dims = append(dims, dv.DimValue)
		} else {
			dims = append(dims, -1)
		}
	}
	return dims, true
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

func AttrInts(n *onnxpb.NodeProto, name string) []int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetInts()
		}
	}
	return nil
}

func attrString(n *onnxpb.NodeProto, name string) string {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return string(a.GetS())
		}
	}
	return ""
}

func IntsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{
		Name: proto.String(name),
		Type: onnxpb.AttributeProto_INTS.Enum(),
		Ints: v,
	}
}

func IntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{
		Name: proto.String(name),
		Type: onnxpb.AttributeProto_INT.Enum(),
		I:    proto.Int64(v),
	}
}

// GraphInputs returns the graph inputs that are fed at run time, leaving out
// the initializers that older exporters also list as inputs.
func GraphInputs(g *onnxpb.GraphProto) []*onnxpb.ValueInfoProto {
	init := make(map[string]bool, len(g.GetInitializer()))
	for _, t := range g.GetInitializer() {
		init[t.GetName()] = true
	}
	var in []*onnxpb.ValueInfoProto
	for _, v := range g.GetInput() {
		if !init[v.GetName()] {
			in = append(in, v)
		}
	}
	return in
}

// Node is a node of type op named after its one output.
func Node(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}, Attribute: attrs}
}

// Floats returns the values of a float32 initializer, whether they are
// stored as float_data or little-endian raw_data.
func Floats(t *onnxpb.TensorProto) ([]float32, error) {
	if t == nil {
		return nil, errors.New("no constant tensor")
	}
	if t.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("tensor %s is not float32", t.GetName())
	}
	if len(t.GetFloatData()) > 0 {
		return t.GetFloatData(), nil
	}
	raw := t.GetRawData()
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("tensor %s: %d raw bytes are not float32s", t.GetName(), len(raw))
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v, nil
}

package onnx

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

func weights(name string, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: dims}
}

func int64s(name string, v ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{int64(len(v))}, Int64Data: v}
}

func TestInferShapes(t *testing.T) {
	x := func(dims ...int64) []*onnxpb.ValueInfoProto {
		return []*onnxpb.ValueInfoProto{TensorValueInfo("x", dims...)}
	}
	tests := []struct {
		name  string
		in    []*onnxpb.ValueInfoProto
		nodes []*onnxpb.NodeProto
		init  []*onnxpb.TensorProto
		want  []int64 // shape of the last node's output
	}{
		{"conv 3x3 pad 1", x(-1, 3, 224, 224),
			[]*onnxpb.NodeProto{node("Conv", []string{"x", "w", "b"}, "y", IntsAttr("pads", 1, 1, 1, 1))},
			[]*onnxpb.TensorProto{weights("w", 64, 3, 3, 3), weights("b", 64)}, []int64{-1, 64, 224, 224}},
		{"conv 11x11 stride 4", x(1, 3, 227, 227),
			[]*onnxpb.NodeProto{node("Conv", []string{"x", "w"}, "y", IntsAttr("strides", 4, 4))},
			[]*onnxpb.TensorProto{weights("w", 96, 3, 11, 11)}, []int64{1, 96, 55, 55}},
		{"conv same upper", x(1, 3, 15, 15),
			[]*onnxpb.NodeProto{node("Conv", []string{"x", "w"}, "y", IntsAttr("strides", 2, 2), &onnxpb.AttributeProto{Name: proto.String("auto_pad"), S: []byte("SAME_UPPER")})},
			[]*onnxpb.TensorProto{weights("w", 8, 3, 3, 3)}, []int64{1, 8, 8, 8}},
		{"grouped conv", x(1, 8, 10, 10),
			[]*onnxpb.NodeProto{node("Conv", []string{"x", "w"}, "y", IntAttr("group", 8))},
			[]*onnxpb.TensorProto{weights("w", 8, 1, 3, 3)}, []int64{1, 8, 8, 8}},
		{"max pool floor", x(-1, 4, 7, 7),
			[]*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2))},
			nil, []int64{-1, 4, 3, 3}},
		{"max pool ceil", x(-1, 4, 7, 7),
			[]*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2), IntAttr("ceil_mode", 1))},
			nil, []int64{-1, 4, 4, 4}},
		{"global average pool", x(2, 512, 7, 7),
			[]*onnxpb.NodeProto{node("GlobalAveragePool", []string{"x"}, "y")}, nil, []int64{2, 512, 1, 1}},
		{"relu dropout flatten gemm", x(-1, 512, 7, 7),
			[]*onnxpb.NodeProto{
				node("Relu", []string{"x"}, "r"), node("Dropout", []string{"r"}, "d"),
				node("Flatten", []string{"d"}, "f"),
				node("Gemm", []string{"f", "w", "b"}, "y", IntAttr("transB", 1)),
			},
			[]*onnxpb.TensorProto{weights("w", 4096, 25088), weights("b", 4096)}, []int64{-1, 4096}},
		{"reshape with 0 and -1", x(-1, 512, 7, 7),
			[]*onnxpb.NodeProto{node("Reshape", []string{"x", "s"}, "y")},
			[]*onnxpb.TensorProto{int64s("s", 0, -1)}, []int64{-1, 25088}},
		{"reshape fixed batch", x(2, 8, 2, 2),
			[]*onnxpb.NodeProto{node("Reshape", []string{"x", "s"}, "y")},
			[]*onnxpb.TensorProto{int64s("s", -1, 32)}, []int64{2, 32}},
		{"pytorch flatten via shape gather concat", x(-1, 8, 2, 2),
			[]*onnxpb.NodeProto{
				node("Shape", []string{"x"}, "sh"),
				node("Gather", []string{"sh", "zero"}, "n", IntAttr("axis", 0)),
				node("Unsqueeze", []string{"n"}, "n1", IntsAttr("axes", 0)),
				node("Concat", []string{"n1", "minus1"}, "target", IntAttr("axis", 0)),
				node("Reshape", []string{"x", "target"}, "y"),
			},
			[]*onnxpb.TensorProto{{Name: proto.String("zero"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{0}}, int64s("minus1", -1)},
			[]int64{-1, -1}},
		{"keras transpose to nhwc", x(-1, 512, 7, 7),
			[]*onnxpb.NodeProto{node("Transpose", []string{"x"}, "y", IntsAttr("perm", 0, 2, 3, 1))}, nil, []int64{-1, 7, 7, 512}},
		{"add broadcasts bias", x(-1, 4, 3, 3),
			[]*onnxpb.NodeProto{node("Add", []string{"x", "b"}, "y")},
			[]*onnxpb.TensorProto{weights("b", 4, 1, 1)}, []int64{-1, 4, 3, 3}},
		{"matmul", x(-1, 25088),
			[]*onnxpb.NodeProto{node("MatMul", []string{"x", "w"}, "y")},
			[]*onnxpb.TensorProto{weights("w", 25088, 10)}, []int64{-1, 10}},
		{"reduce mean keepdims 0", x(-1, 512, 7, 7),
			[]*onnxpb.NodeProto{node("ReduceMean", []string{"x"}, "y", IntsAttr("axes", 2, 3), IntAttr("keepdims", 0))}, nil, []int64{-1, 512}},
		{"squeeze", x(-1, 512, 1, 1),
			[]*onnxpb.NodeProto{node("Squeeze", []string{"x", "ax"}, "y")},
			[]*onnxpb.TensorProto{int64s("ax", 2, 3)}, []int64{-1, 512}},
		{"concat channels", x(-1, 4, 3, 3),
			[]*onnxpb.NodeProto{node("Relu", []string{"x"}, "r"), node("Concat", []string{"x", "r"}, "y", IntAttr("axis", 1))},
			nil, []int64{-1, 8, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := graphModel(tt.in, tt.nodes, tt.init)
			shapes, err := InferShapes(m)
			if err != nil {
				t.Fatal(err)
			}
			last := tt.nodes[len(tt.nodes)-1].GetOutput()[0]
			if got := shapes[last]; !slices.Equal(got, tt.want) {
				t.Errorf("shape of %s = %v, want %v", last, got, tt.want)
			}
		})
	}
}

func TestInferShapes_Inconsistent(t *testing.T) {
	x := []*onnxpb.ValueInfoProto{TensorValueInfo("x", -1, 3, 32, 32)}
	tests := []struct {
		name  string
		nodes []*onnxpb.NodeProto
		init  []*onnxpb.TensorProto
	}{
		{"conv channels", []*onnxpb.NodeProto{node("Conv", []string{"x", "w"}, "y")}, []*onnxpb.TensorProto{weights("w", 8, 4, 3, 3)}},
		{"conv bias", []*onnxpb.NodeProto{node("Conv", []string{"x", "w", "b"}, "y")}, []*onnxpb.TensorProto{weights("w", 8, 3, 3, 3), weights("b", 7)}},
		{"kernel larger than input", []*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 64, 64))}, nil},
		{"zero stride", []*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 0, 0))}, nil},
		{"gemm inner", []*onnxpb.NodeProto{node("Flatten", []string{"x"}, "f"), node("Gemm", []string{"f", "w"}, "y", IntAttr("transB", 1))},
			[]*onnxpb.TensorProto{weights("w", 10, 3071)}},
		{"reshape size", []*onnxpb.NodeProto{node("Reshape", []string{"x", "s"}, "y")}, []*onnxpb.TensorProto{int64s("s", 0, 100)}},
		{"add shapes", []*onnxpb.NodeProto{node("Add", []string{"x", "b"}, "y")}, []*onnxpb.TensorProto{weights("b", 5, 1, 1)}},
		{"transpose perm", []*onnxpb.NodeProto{node("Transpose", []string{"x"}, "y", IntsAttr("perm", 0, 1))}, nil},
		{"huge pad", []*onnxpb.NodeProto{node("MaxPool", []string{"x"}, "y", IntsAttr("kernel_shape", 2, 2), IntsAttr("pads", 1<<62, 1<<62, 1<<62, 1<<62))}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InferShapes(graphModel(x, tt.nodes, tt.init))
			if !errors.Is(err, ErrInvalidModel) {
				t.Errorf("err = %v, want ErrInvalidModel", err)
			}
		})
	}
}

func TestInferShapes_UnknownOperatorLeavesShapeOut(t *testing.T) {
	m := graphModel(
		[]*onnxpb.ValueInfoProto{TensorValueInfo("x", -1, 3, 8, 8)},
		[]*onnxpb.NodeProto{node("Frobnicate", []string{"x"}, "f"), node("Relu", []string{"f"}, "y")},
		nil)
	shapes, err := InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := shapes["y"]; ok {
		t.Errorf("shape of y after an unknown operator = %v, want none", shapes["y"])
	}
}

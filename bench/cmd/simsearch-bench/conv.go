package main

import (
	"fmt"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// convShape is the convolution that measures the machine's practical
// fp32 convolution speed in ONNX Runtime: Channels→Channels, 3×3, pad 1,
// Side×Side, Batch images.
type convShape struct {
	Batch, Channels, Side int
	// Depth is how many such convolutions run one after the other (1 is
	// the single convolution). ONNX Runtime converts the input to
	// its blocked layout and back around a chain, so a chain shows what
	// that conversion costs a lone convolution.
	Depth int
}

// GFLOP is the work of one run: two FLOP per multiply-add.
func (c convShape) GFLOP() float64 {
	return float64(max(c.Depth, 1)) * 2 * float64(c.Channels*c.Channels*9) * float64(c.Side*c.Side) * float64(c.Batch) / 1e9
}

type convFigure struct {
	Threads       int     `json:"threads"`
	Shape         string  `json:"shape"`
	Depth         int     `json:"depth"`
	Runs          int     `json:"runs"`
	Seconds       float64 `json:"seconds"`
	GFLOPS        float64 `json:"gflop_per_s"`
	TrunkFraction float64 `json:"trunk_fraction"`
}

// convModel builds the one-node ONNX graph y = Conv(x, W, b) with He-normal
// weights, serialised.
func convModel(c convShape) ([]byte, error) {
	ch := int64(c.Channels)
	side := int64(c.Side)
	rng := rand.New(rand.NewPCG(3, 3))
	w := make([]float32, ch*ch*9)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.03)
	}
	valueInfo := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		shape := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{
			Name: proto.String(name),
			Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
				ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape,
			}}},
		}
	}
	ints := func(name string, v ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
	}
	g := &onnxpb.GraphProto{
		Name:   proto.String("conv"),
		Input:  []*onnxpb.ValueInfoProto{valueInfo("x", int64(c.Batch), ch, side, side)},
		Output: []*onnxpb.ValueInfoProto{valueInfo("y", int64(c.Batch), ch, side, side)},
		Initializer: []*onnxpb.TensorProto{
			{Name: proto.String("W"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{ch, ch, 3, 3}, FloatData: w},
			{Name: proto.String("b"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{ch}, FloatData: make([]float32, ch)},
		},
	}
	in := "x"
	for i := range max(c.Depth, 1) {
		out := fmt.Sprintf("h%d", i)
		if i == max(c.Depth, 1)-1 {
			out = "y"
		}
		g.Node = append(g.Node, &onnxpb.NodeProto{
			Name: proto.String(out), OpType: proto.String("Conv"),
			Input: []string{in, "W", "b"}, Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 1, 1)},
		})
		in = out
	}
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("simsearch-bench"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:        g,
	}
	return onnx.EncodeModel(m)
}

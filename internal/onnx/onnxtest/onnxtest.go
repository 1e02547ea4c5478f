// Package onnxtest builds small ONNX models for tests in other packages:
// quantized (int8) VGG-shaped networks in the forms that quantization
// tools write, which internal/onnx, model and the ONNX Runtime tests of
// internal/extractor all need.
package onnxtest

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// Form says where a quantized VGG turns its last max-pool back to float.
type Form int

// Quantized forms.
const (
	// DequantizedPool: a DequantizeLinear reads the last MaxPool (which
	// runs on uint8) and float dense layers follow, as in QDQ exports.
	DequantizedPool Form = iota
	// IntegerDense: the last MaxPool's uint8 output goes on through
	// Flatten and QLinearMatMul; only the logits are dequantized, as in
	// QOperator exports. Nothing dequantizes the pool itself.
	IntegerDense
)

// Quantized is a quantized VGG and where its features are.
type Quantized struct {
	Model *onnxpb.ModelProto
	Pool  string     // the last MaxPool's output (uint8)
	Conv  string     // the last QLinearConv's output, which that pool reads (uint8)
	Quant onnx.Quant // scale and zero point of Conv and Pool
	C     int        // channels of the last block
	H, W  int        // side of the last pool's output
}

// Activation scale and zero point of every convolution: zero point 0 makes
// the uint8 saturation a ReLU, and 0.02 keeps He-initialised activations
// (a few units at most) within 0..5.1.
const (
	convScale = 0.02
	inScale   = 5.0 / 255 // the normalised input spans about -2.1..2.9
	inZero    = 108
)

// QuantizedVGG builds the network c describes (weights from onnx.NewVGG),
// quantized in the QOperator style of int8 model zoo files: a
// QuantizeLinear at the input, QLinearConv with a fused ReLU, MaxPool on
// uint8, then dense layers as form says.
func QuantizedVGG(c onnx.VGGConfig, form Form) (*Quantized, error) {
	v, err := onnx.NewVGG(c)
	if err != nil {
		return nil, err
	}
	input := c.Input
	if input == "" {
		input = "data"
	}
	g := &onnxpb.GraphProto{Name: proto.String("vgg_int8")}
	g.Input = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo(input, -1, int64(c.InChannels), int64(c.Size), int64(c.Size))}
	addInit := func(t ...*onnxpb.TensorProto) { g.Initializer = append(g.Initializer, t...) }
	addInit(scalar("in_scale", inScale), zero("in_zp", onnxpb.TensorProto_UINT8, inZero),
		scalar("act_scale", convScale), zero("act_zp", onnxpb.TensorProto_UINT8, 0))
	g.Node = append(g.Node, onnx.Node("QuantizeLinear", []string{input, "in_scale", "in_zp"}, "data_q"))
	x, xScale, xZero := "data_q", "in_scale", "in_zp"
	xs := float64(inScale)
	li := 0
	q := &Quantized{}
	for bi, block := range c.Blocks {
		for range block {
			l := v.Weights.Conv[li]
			li++
			wq, ws := quantizeWeights(l.W)
			bq := make([]int32, len(l.B))
			for i, b := range l.B {
				bq[i] = int32(math.RoundToEven(float64(b) / (xs * float64(ws))))
			}
			addInit(
				&onnxpb.TensorProto{Name: proto.String(l.Name + "_Wq"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT8)), Dims: slices.Clone(l.Shape), Int32Data: wq},
				scalar(l.Name+"_Wscale", ws), zero(l.Name+"_Wzp", onnxpb.TensorProto_INT8, 0),
				&onnxpb.TensorProto{Name: proto.String(l.Name + "_Bq"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT32)), Dims: []int64{int64(len(bq))}, Int32Data: bq},
			)
			g.Node = append(g.Node, onnx.Node("QLinearConv",
				[]string{x, xScale, xZero, l.Name + "_Wq", l.Name + "_Wscale", l.Name + "_Wzp", "act_scale", "act_zp", l.Name + "_Bq"},
				l.Name, onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1)))
			x, xScale, xZero, xs = l.Name, "act_scale", "act_zp", convScale
		}
		q.Conv = x
		pool := fmt.Sprintf("block%d_pool", bi+1)
		g.Node = append(g.Node, onnx.Node("MaxPool", []string{x}, pool, onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)))
		x = pool
	}
	q.Pool, q.Quant = x, onnx.Quant{Scale: "act_scale", ZeroPoint: "act_zp"}
	q.C, q.H, q.W = v.Feature.C, v.Feature.H, v.Feature.W
	out := x
	switch form {
	case DequantizedPool:
		g.Node = append(g.Node, onnx.Node("DequantizeLinear", []string{x, "act_scale", "act_zp"}, "features"))
		x = "features"
		if len(v.Weights.Dense) > 0 {
			g.Node = append(g.Node, onnx.Node("Flatten", []string{x}, "flatten", onnx.IntAttr("axis", 1)))
			x = "flatten"
		}
		for i, l := range v.Weights.Dense {
			addInit(floats(l.Name+"_W", l.Shape, l.W), floats(l.Name+"_b", []int64{int64(len(l.B))}, l.B))
			g.Node = append(g.Node, onnx.Node("Gemm", []string{x, l.Name + "_W", l.Name + "_b"}, l.Name, onnx.IntAttr("transB", 1)))
			x = l.Name
			if i < len(v.Weights.Dense)-1 {
				g.Node = append(g.Node, onnx.Node("Relu", []string{x}, x+"_relu"))
				x += "_relu"
			}
		}
		out = x
	case IntegerDense:
		g.Node = append(g.Node, onnx.Node("Flatten", []string{x}, "flatten", onnx.IntAttr("axis", 1)))
		x = "flatten"
		addInit(zero("logit_zp", onnxpb.TensorProto_UINT8, 128))
		for i, l := range v.Weights.Dense {
			// QLinearMatMul computes x·B: B is the transposed [in, out].
			rows, cols := int(l.Shape[0]), int(l.Shape[1])
			t := make([]float32, len(l.W))
			for r := range rows {
				for c := range cols {
					t[c*rows+r] = l.W[r*cols+c]
				}
			}
			wq, ws := quantizeWeights(t)
			addInit(
				&onnxpb.TensorProto{Name: proto.String(l.Name + "_Wq"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT8)), Dims: []int64{int64(cols), int64(rows)}, Int32Data: wq},
				scalar(l.Name+"_Wscale", ws), zero(l.Name+"_Wzp", onnxpb.TensorProto_INT8, 0),
			)
			yZero, y := "act_zp", l.Name
			if i == len(v.Weights.Dense)-1 {
				yZero, y = "logit_zp", l.Name+"_q" // scores are signed: no ReLU
			}
			g.Node = append(g.Node, onnx.Node("QLinearMatMul",
				[]string{x, "act_scale", "act_zp", l.Name + "_Wq", l.Name + "_Wscale", l.Name + "_Wzp", "act_scale", yZero}, y))
			x = y
		}
		if len(v.Weights.Dense) > 0 {
			g.Node = append(g.Node, onnx.Node("DequantizeLinear", []string{x, "act_scale", "logit_zp"}, "predictions"))
			out = "predictions"
		}
	default:
		return nil, fmt.Errorf("quantized vgg: unknown form %d", form)
	}
	switch {
	case out == q.Pool:
		g.Output = []*onnxpb.ValueInfoProto{uint8Info(out, -1, int64(q.C), int64(q.H), int64(q.W))}
	case len(c.Dense) == 0:
		g.Output = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo(out, -1, int64(q.C), int64(q.H), int64(q.W))}
	default:
		g.Output = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo(out, -1, int64(c.Dense[len(c.Dense)-1]))}
	}
	q.Model = &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("simsearch onnxtest"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(12)}},
		Graph:        g,
	}
	return q, nil
}

// quantizeWeights maps w symmetrically to int8 (zero point 0), one scale
// for the tensor.
func quantizeWeights(w []float32) ([]int32, float32) {
	m := float32(0)
	for _, x := range w {
		m = max(m, float32(math.Abs(float64(x))))
	}
	scale := m / 127
	if scale == 0 {
		scale = 1
	}
	q := make([]int32, len(w))
	for i, x := range w {
		q[i] = int32(max(-127, min(127, math.RoundToEven(float64(x/scale)))))
	}
	return q, scale
}

func scalar(name string, v float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{v}}
}

func zero(name string, typ onnxpb.TensorProto_DataType, v int32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(typ)), Int32Data: []int32{v}}
}

func floats(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: slices.Clone(dims), FloatData: v}
}

func uint8Info(name string, dims ...int64) *onnxpb.ValueInfoProto {
	v := onnx.TensorValueInfo(name, dims...)
	v.GetType().GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_UINT8))
	return v
}

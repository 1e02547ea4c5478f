package onnxtest

import (
	"math"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// Encoder is a tiny image encoder whose output is one vector per image,
// as a CLIP or DINOv2 image tower's: a 3×3 convolution to Hidden channels
// (padding 1) and ReLU, global average pooling, Flatten, then a Gemm to
// Dims values. The weights are kept so that tests can compute it.
type Encoder struct {
	Model  *onnxpb.ModelProto
	Input  string // "pixel_values", N×3×Size×Size
	Output string // "image_embeds", N×Dims
	Size   int
	Hidden int
	Dims   int
	ConvW  []float32 // [Hidden, 3, 3, 3]
	ConvB  []float32 // [Hidden]
	ProjW  []float32 // [Dims, Hidden], used with transB
	ProjB  []float32 // [Dims]
}

// NewEncoder builds an Encoder with normal random weights from seed.
func NewEncoder(size, hidden, dims int, seed uint64) *Encoder {
	r := rand.New(rand.NewPCG(seed, 14))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	e := &Encoder{
		Input: "pixel_values", Output: "image_embeds", Size: size, Hidden: hidden, Dims: dims,
		ConvW: normal(hidden*27, math.Sqrt(2.0/27)), ConvB: normal(hidden, 0.1),
		ProjW: normal(dims*hidden, math.Sqrt(1/float64(hidden))), ProjB: normal(dims, 0.1),
	}
	g := &onnxpb.GraphProto{
		Name:  proto.String("encoder"),
		Input: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo(e.Input, -1, 3, int64(size), int64(size))},
		Initializer: []*onnxpb.TensorProto{
			floats("conv_W", []int64{int64(hidden), 3, 3, 3}, e.ConvW), floats("conv_b", []int64{int64(hidden)}, e.ConvB),
			floats("proj_W", []int64{int64(dims), int64(hidden)}, e.ProjW), floats("proj_b", []int64{int64(dims)}, e.ProjB),
		},
		Node: []*onnxpb.NodeProto{
			onnx.Node("Conv", []string{e.Input, "conv_W", "conv_b"}, "conv", onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1)),
			onnx.Node("Relu", []string{"conv"}, "relu"),
			onnx.Node("GlobalAveragePool", []string{"relu"}, "gap"),
			onnx.Node("Flatten", []string{"gap"}, "flat", onnx.IntAttr("axis", 1)),
			onnx.Node("Gemm", []string{"flat", "proj_W", "proj_b"}, e.Output, onnx.IntAttr("transB", 1)),
		},
		Output: []*onnxpb.ValueInfoProto{onnx.TensorValueInfo(e.Output, -1, int64(dims))},
	}
	e.Model = &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("simsearch onnxtest"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:        g,
	}
	return e
}

// Embed computes the encoder in Go on one image, x in CHW order.
func (e *Encoder) Embed(x []float32) []float32 {
	n := e.Size
	hidden := make([]float64, e.Hidden)
	for o := range e.Hidden {
		var sum float64
		for i := range n {
			for j := range n {
				s := float64(e.ConvB[o])
				for c := range 3 {
					for di := -1; di <= 1; di++ {
						for dj := -1; dj <= 1; dj++ {
							ii, jj := i+di, j+dj
							if ii < 0 || jj < 0 || ii >= n || jj >= n {
								continue
							}
							s += float64(e.ConvW[((o*3+c)*3+di+1)*3+dj+1]) * float64(x[(c*n+ii)*n+jj])
						}
					}
				}
				sum += max(s, 0)
			}
		}
		hidden[o] = sum / float64(n*n)
	}
	out := make([]float32, e.Dims)
	for d := range e.Dims {
		s := float64(e.ProjB[d])
		for h, v := range hidden {
			s += float64(e.ProjW[d*e.Hidden+h]) * v
		}
		out[d] = float32(s)
	}
	return out
}

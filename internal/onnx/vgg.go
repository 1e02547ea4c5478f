package onnx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// VGGConfig describes a VGG-style network: blocks of 3×3 convolutions
// (padding 1, each followed by ReLU) that each end with a 2×2 max-pool of
// stride 2, then optional dense layers (Flatten, then Gemm, with ReLU
// between them, none after the last).
type VGGConfig struct {
	Name       string  // graph name; "vgg" when empty
	Input      string  // input tensor name; "data" when empty
	Size       int     // input height and width, e.g. 224
	InChannels int     // input channels, 3 for colour
	Blocks     [][]int // output channels of each convolution, per block
	Dense      []int   // output size of each dense layer; none for the trunk only
	Seed       uint64  // seed of the He-normal weights

	// Weights, when set, are used instead of random ones. Their shapes must
	// match the configuration.
	Weights *VGGWeights
}

// VGG16Config is the configuration of VGG16 (Simonyan & Zisserman,
// configuration D) at 224×224, trunk only unless dense is true, in which
// case it has the 4096-4096-1000 classifier.
func VGG16Config(dense bool) VGGConfig {
	c := VGGConfig{
		Name:       "vgg16",
		Size:       224,
		InChannels: 3,
		Blocks:     [][]int{{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}},
		Seed:       16,
	}
	if dense {
		c.Dense = []int{4096, 4096, 1000}
	}
	return c
}

// VGG19Config is the configuration of VGG19 (Simonyan & Zisserman,
// configuration E: sixteen convolutions, four in each of the last three
// blocks) at 224×224, trunk only unless dense is true, in which case it
// has the 4096-4096-1000 classifier. The trunk has 20,024,384 parameters.
func VGG19Config(dense bool) VGGConfig {
	c := VGGConfig{
		Name:       "vgg19",
		Size:       224,
		InChannels: 3,
		Blocks:     [][]int{{64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}},
		Seed:       19,
	}
	if dense {
		c.Dense = []int{4096, 4096, 1000}
	}
	return c
}

// VGGWeights holds the parameters of a VGG network in ONNX layouts:
// convolution weights are [out, in, 3, 3] and dense weights are [out, in]
// (used by Gemm with transB=1), both row-major.
type VGGWeights struct {
	Conv  []Layer // in order, block by block
	Dense []Layer
}

// Layer is the weight and bias of one convolution or dense layer.
type Layer struct {
	Name  string    // node name, as in the graph (Keras names: block1_conv1, fc1)
	Shape []int64   // shape of W
	W     []float32 // weights, row-major in Shape
	B     []float32 // bias, one per output
}

// Params returns the number of parameters.
func (w *VGGWeights) Params() int64 {
	var n int64
	for _, l := range slices.Concat(w.Conv, w.Dense) {
		n += int64(len(l.W) + len(l.B))
	}
	return n
}

// VGG is a built VGG network: its graph, its parameters and where its
// feature map is.
type VGG struct {
	Model   *onnxpb.ModelProto
	Weights *VGGWeights
	Feature Feature // output of the last max-pool
	Output  string  // last tensor: Feature.Name, or the logits with dense layers
	// Logits is the last Gemm's output (N×Dense[last] raw scores) with
	// dense layers, "" for the trunk only.
	Logits string
}

// ErrConfig is returned for a VGGConfig that does not describe a network.
var ErrConfig = errors.New("invalid vgg configuration")

func (c VGGConfig) check() error {
	switch {
	case c.Size <= 0 || c.Size > 1<<16:
		return fmt.Errorf("%w: size %d", ErrConfig, c.Size)
	case c.InChannels <= 0:
		return fmt.Errorf("%w: %d input channels", ErrConfig, c.InChannels)
	case len(c.Blocks) == 0:
		return fmt.Errorf("%w: no blocks", ErrConfig)
	case c.Size>>len(c.Blocks) == 0:
		return fmt.Errorf("%w: %d pools leave nothing of a %d×%d input", ErrConfig, len(c.Blocks), c.Size, c.Size)
	}
	for i, b := range c.Blocks {
		if len(b) == 0 {
			return fmt.Errorf("%w: block %d has no convolutions", ErrConfig, i+1)
		}
		for _, ch := range b {
			if ch <= 0 {
				return fmt.Errorf("%w: block %d has %d channels", ErrConfig, i+1, ch)
			}
		}
	}
	for _, d := range c.Dense {
		if d <= 0 {
			return fmt.Errorf("%w: dense size %d", ErrConfig, d)
		}
	}
	return nil
}

// NewVGG builds the network described by c. Random weights are drawn from
// a normal distribution with standard deviation sqrt(2/fan_in) (He et al.),
// biases are zero; the generator is seeded by c.Seed and uses only
// integer arithmetic and correctly rounded floating-point operations, so
// every machine builds the same bytes. The layers are drawn in order, so a
// network with dense layers shares its trunk with the same network without.
func NewVGG(c VGGConfig) (*VGG, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = "vgg"
	}
	if c.Input == "" {
		c.Input = "data"
	}
	w := c.Weights
	if w == nil {
		w = randomVGGWeights(c)
	} else if err := checkWeights(c, w); err != nil {
		return nil, err
	}

	g := &onnxpb.GraphProto{Name: proto.String(c.Name)}
	g.Input = append(g.Input, TensorValueInfo(c.Input, -1, int64(c.InChannels), int64(c.Size), int64(c.Size)))
	x := c.Input
	li := 0
	size := c.Size
	for bi, block := range c.Blocks {
		for ci := range block {
			l := w.Conv[li]
			li++
			g.Initializer = append(g.Initializer, floatTensor(l.Name+"_W", l.Shape, l.W), floatTensor(l.Name+"_b", []int64{int64(len(l.B))}, l.B))
			g.Node = append(g.Node, &onnxpb.NodeProto{
				Name: proto.String(l.Name), OpType: proto.String("Conv"),
				Input:  []string{x, l.Name + "_W", l.Name + "_b"},
				Output: []string{l.Name},
				Attribute: []*onnxpb.AttributeProto{
					IntsAttr("kernel_shape", 3, 3), IntsAttr("pads", 1, 1, 1, 1), IntsAttr("strides", 1, 1),
				},
			})
			relu := fmt.Sprintf("block%d_relu%d", bi+1, ci+1)
			g.Node = append(g.Node, &onnxpb.NodeProto{
				Name: proto.String(relu), OpType: proto.String("Relu"),
				Input: []string{l.Name}, Output: []string{relu},
			})
			x = relu
		}
		pool := fmt.Sprintf("block%d_pool", bi+1)
		g.Node = append(g.Node, &onnxpb.NodeProto{
			Name: proto.String(pool), OpType: proto.String("MaxPool"),
			Input: []string{x}, Output: []string{pool},
			Attribute: []*onnxpb.AttributeProto{IntsAttr("kernel_shape", 2, 2), IntsAttr("strides", 2, 2)},
		})
		x = pool
		size /= 2
	}
	feat := Feature{Name: x, C: c.Blocks[len(c.Blocks)-1][len(c.Blocks[len(c.Blocks)-1])-1], H: size, W: size}
	g.Output = append(g.Output, TensorValueInfo(feat.Name, -1, int64(feat.C), int64(feat.H), int64(feat.W)))
	out := feat.Name
	if len(c.Dense) > 0 {
		g.Node = append(g.Node, &onnxpb.NodeProto{
			Name: proto.String("flatten"), OpType: proto.String("Flatten"),
			Input: []string{x}, Output: []string{"flatten"},
			Attribute: []*onnxpb.AttributeProto{IntAttr("axis", 1)},
		})
		x = "flatten"
		for i, l := range w.Dense {
			g.Initializer = append(g.Initializer, floatTensor(l.Name+"_W", l.Shape, l.W), floatTensor(l.Name+"_b", []int64{int64(len(l.B))}, l.B))
			g.Node = append(g.Node, &onnxpb.NodeProto{
				Name: proto.String(l.Name), OpType: proto.String("Gemm"),
				Input:     []string{x, l.Name + "_W", l.Name + "_b"},
				Output:    []string{l.Name},
				Attribute: []*onnxpb.AttributeProto{IntAttr("transB", 1)},
			})
			x = l.Name
			if i < len(w.Dense)-1 {
				relu := l.Name + "_relu"
				g.Node = append(g.Node, &onnxpb.NodeProto{
					Name: proto.String(relu), OpType: proto.String("Relu"),
					Input: []string{x}, Output: []string{relu},
				})
				x = relu
			}
		}
		out = x
		g.Output = append(g.Output, TensorValueInfo(out, -1, int64(c.Dense[len(c.Dense)-1])))
	}
	m := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(7),
		ProducerName:    proto.String("simsearch"),
		ProducerVersion: proto.String("1"),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:           g,
	}
	v := &VGG{Model: m, Weights: w, Feature: feat, Output: out}
	if len(c.Dense) > 0 {
		v.Logits = out
	}
	return v, nil
}

// BuildVGG builds the network described by c and writes it to w as an
// ONNX file. It returns the network, whose weights a pure-Go reference can
// use.
func BuildVGG(w io.Writer, c VGGConfig) (*VGG, error) {
	v, err := NewVGG(c)
	if err != nil {
		return nil, err
	}
	b, err := EncodeModel(v.Model)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("write vgg: %w", err)
	}
	return v, nil
}

// layerShapes lists the names and weight shapes of c's layers, in order.
func layerShapes(c VGGConfig) (conv, dense []Layer) {
	in := c.InChannels
	for bi, block := range c.Blocks {
		for ci, out := range block {
			conv = append(conv, Layer{
				Name:  fmt.Sprintf("block%d_conv%d", bi+1, ci+1),
				Shape: []int64{int64(out), int64(in), 3, 3},
			})
			in = out
		}
	}
	side := c.Size >> len(c.Blocks)
	in *= side * side
	for i, out := range c.Dense {
		name := fmt.Sprintf("fc%d", i+1)
		if i == len(c.Dense)-1 {
			name = "predictions"
		}
		dense = append(dense, Layer{Name: name, Shape: []int64{int64(out), int64(in)}})
		in = out
	}
	return conv, dense
}

func randomVGGWeights(c VGGConfig) *VGGWeights {
	conv, dense := layerShapes(c)
	r := newNormalSource(c.Seed)
	fill := func(ls []Layer) {
		for i := range ls {
			l := &ls[i]
			fanIn := numel(l.Shape[1:])
			std := math.Sqrt(2 / float64(fanIn))
			l.W = make([]float32, numel(l.Shape))
			for j := range l.W {
				l.W[j] = float32(float64(r.next() * std))
			}
			l.B = make([]float32, l.Shape[0])
		}
	}
	fill(conv)
	fill(dense)
	return &VGGWeights{Conv: conv, Dense: dense}
}

func checkWeights(c VGGConfig, w *VGGWeights) error {
	conv, dense := layerShapes(c)
	if len(w.Conv) != len(conv) || len(w.Dense) != len(dense) {
		return fmt.Errorf("%w: weights have %d conv and %d dense layers, want %d and %d",
			ErrConfig, len(w.Conv), len(w.Dense), len(conv), len(dense))
	}
	for i, want := range slices.Concat(conv, dense) {
		got := w.Conv
		j := i
		if i >= len(conv) {
			got, j = w.Dense, i-len(conv)
		}
		l := got[j]
		if l.Name != want.Name || !slices.Equal(l.Shape, want.Shape) ||
			int64(len(l.W)) != numel(want.Shape) || int64(len(l.B)) != want.Shape[0] {
			return fmt.Errorf("%w: layer %d is %s %v with %d weights and %d biases, want %s %v",
				ErrConfig, i, l.Name, l.Shape, len(l.W), len(l.B), want.Name, want.Shape)
		}
	}
	return nil
}

// floatTensor wraps data as an initializer. The slice is shared, not
// copied: a VGG16 with dense layers holds 553 MB of weights.
func floatTensor(name string, dims []int64, data []float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{
		Name:      proto.String(name),
		DataType:  proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		Dims:      slices.Clone(dims),
		FloatData: data,
	}
}

// normalSource draws standard normal numbers with the Marsaglia polar
// method from a PCG stream. It avoids math.Log, whose last bit differs
// between architectures (assembly on amd64, Go elsewhere), and every
// product is rounded explicitly so that no compiler fuses it into an FMA.
type normalSource struct {
	pcg   *rand.PCG
	spare float64
	has   bool
}

func newNormalSource(seed uint64) *normalSource {
	return &normalSource{pcg: rand.NewPCG(seed, 0x5eed_0f_5105ea2c)}
}

// uniform returns a number in (-1, 1) with 53 random bits.
func (s *normalSource) uniform() float64 {
	return float64(int64(s.pcg.Uint64()>>10)-(1<<53)) / (1 << 53)
}

func (s *normalSource) next() float64 {
	if s.has {
		s.has = false
		return s.spare
	}
	for {
		u, v := s.uniform(), s.uniform()
		q := float64(u*u) + float64(v*v)
		if q == 0 || q >= 1 {
			continue
		}
		f := math.Sqrt(float64(-2*float64(detLog(q))) / q)
		s.spare, s.has = float64(v*f), true
		return float64(u * f)
	}
}

// detLog is the natural logarithm of x in (0, 1], computed with only
// correctly rounded operations in a fixed order so that it gives the same
// bits everywhere. It is accurate to a few ulp, plenty for weights.
func detLog(x float64) float64 {
	frac, exp := math.Frexp(x) // exact: x = frac·2^exp, frac in [0.5, 1)
	if frac < math.Sqrt2/2 {
		frac = float64(frac * 2)
		exp--
	}
	// ln(frac) = 2·atanh(t) = 2(t + t³/3 + t⁵/5 + ...), t = (frac-1)/(frac+1),
	// |t| < 0.172, so eleven terms reach double precision. Horner form.
	t := (frac - 1) / (frac + 1)
	t2 := float64(t * t)
	sum := 0.0
	for k := 21; k >= 1; k -= 2 {
		sum = float64(sum*t2) + 1/float64(k)
	}
	sum = float64(sum * t)
	return float64(2*sum) + float64(float64(exp)*math.Ln2)
}

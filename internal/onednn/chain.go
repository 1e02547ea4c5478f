package onednn

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// ErrNotVGG is returned by New for a model this package cannot run: the
// path to its feature output is not a chain of convolutions, ReLUs and
// max-pools in NCHW. The message names the node or setting in the way.
var ErrNotVGG = errors.New("not a VGG-shaped trunk")

// layer is one primitive of the trunk: a convolution (with its ReLU
// fused when one follows) or a max-pool.
type layer struct {
	name string
	pool bool // a max-pool; otherwise a convolution
	// The convolution's weights (OIHW) and bias (nil when it has none).
	weights []float32
	bias    []float32
	hasBias bool // bias stays set once the executor drops its copy
	relu    bool
	// Both kinds: the kernel, strides, dilations (1 = none) and pads
	// (top, left, bottom, right).
	kernel, strides, dilations [2]int
	pads                       [4]int
	// in and out are the C, H, W of one image.
	in, out [3]int

	// In an int8 (QDQ) model: inScale is the scale of the uint8
	// activation the layer reads (real = inScale·q; 0 when it reads
	// floats) and outScale that of the one its output (after the ReLU) is
	// quantized to (0: it stays float). A convolution that reads integers
	// has int8 weights wq with one scale per output channel; its bias
	// (real values, from the quantizer's int32 at the scale
	// inScale·wScales[c]) is in bias.
	inScale, outScale float32
	wq                []int8
	wScales           []float32
}

// chain is the trunk from the graph input to the feature output.
type chain struct {
	layers []layer
	in     [3]int
	// quantized: the graph has QuantizeLinear/DequantizeLinear pairs (an
	// int8 model from internal/quantize), which only INT8 runs.
	quantized bool
}

// parseChain reads the trunk of spec's model from m. It reuses the int8
// quantizer's walk (quantize.Analyse), which checks that every node the
// feature depends on is a Conv with constant weights, a Relu or a MaxPool,
// and then follows the one activation input of each back to the image.
func parseChain(m *onnxpb.ModelProto, spec model.Spec) (*chain, error) {
	if l := spec.Pre.Layout; l != "" && l != model.NCHW {
		return nil, fmt.Errorf("%w: model %s takes %s input; only NCHW is handled", ErrNotVGG, spec.Name, l)
	}
	if l := spec.OutputLayout; l != "" && l != model.NCHW {
		return nil, fmt.Errorf("%w: model %s gives %s features; only NCHW is handled", ErrNotVGG, spec.Name, l)
	}
	g := m.GetGraph()
	quantized := slices.ContainsFunc(g.GetNode(), func(n *onnxpb.NodeProto) bool { return isQDQ(n.GetOpType()) })
	if quantized {
		// quantize.Analyse refuses a graph it has quantized already; the
		// walk below checks the operators itself.
	} else if _, err := quantize.Analyse(m, spec.Output, nil); err != nil {
		if errors.Is(err, quantize.ErrUnsupported) {
			why := strings.TrimPrefix(err.Error(), quantize.ErrUnsupported.Error()+": ")
			why = strings.ReplaceAll(why, "nothing to quantize", "nothing to run")
			return nil, fmt.Errorf("%w: model %s: %s", ErrNotVGG, spec.Name, why)
		}
		return nil, fmt.Errorf("model %s: %w", spec.Name, err)
	}
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	// Every node on the path reads one activation (a Conv's weights and
	// bias are constants): the path is a chain.
	var nodes []*onnxpb.NodeProto
	t := spec.Output
	for n := producer[t]; n != nil; n = producer[t] {
		if op := n.GetOpType(); quantized && !slices.Contains([]string{"Conv", "Relu", "MaxPool", "QuantizeLinear", "DequantizeLinear"}, op) {
			return nil, fmt.Errorf("%w: model %s: node %s (%s) on the path to %s: only Conv, Relu, MaxPool and QuantizeLinear/DequantizeLinear pairs are handled",
				ErrNotVGG, spec.Name, n.GetName(), op, spec.Output)
		}
		nodes = append(nodes, n)
		t = n.GetInput()[0]
	}
	if t != spec.Input {
		return nil, fmt.Errorf("%w: model %s: the feature %s is computed from %s, not from the input %s", ErrNotVGG, spec.Name, spec.Output, t, spec.Input)
	}
	n := spec.Pre.Size
	c := &chain{in: [3]int{3, n, n}, quantized: quantized}
	for _, v := range onnx.GraphInputs(g) {
		if d, ok := onnx.ValueInfoDims(v); ok && v.GetName() == spec.Input && len(d) == 4 && d[1] > 0 {
			c.in[0] = int(d[1]) // a model whose input has more than the 3 colour channels
		}
	}
	shape := c.in
	// The scale of a QuantizeLinear whose DequantizeLinear has not come
	// yet, and that of the uint8 activation the next layer reads.
	var pending, reads float32
	for i := len(nodes) - 1; i >= 0; i-- {
		nd := nodes[i]
		last := len(c.layers) - 1
		switch nd.GetOpType() {
		case "Relu":
			switch {
			case last >= 0 && !c.layers[last].pool && c.layers[last].outScale == 0 && pending == 0 && reads == 0:
				c.layers[last].relu = true // a second Relu changes nothing
			default:
				return nil, fmt.Errorf("%w: model %s: Relu %s does not follow a convolution", ErrNotVGG, spec.Name, nd.GetName())
			}
			continue
		case "QuantizeLinear", "DequantizeLinear":
			s, err := activationScale(nd, inits)
			if err != nil {
				return nil, fmt.Errorf("%w: model %s: %v", ErrNotVGG, spec.Name, err)
			}
			if nd.GetOpType() == "QuantizeLinear" {
				if pending != 0 || reads != 0 {
					return nil, fmt.Errorf("%w: model %s: QuantizeLinear %s quantizes a quantized activation", ErrNotVGG, spec.Name, nd.GetName())
				}
				if last >= 0 {
					c.layers[last].outScale = s
				}
				pending = s
				continue
			}
			if pending == 0 || s != pending {
				return nil, fmt.Errorf("%w: model %s: DequantizeLinear %s does not undo a QuantizeLinear of the same scale", ErrNotVGG, spec.Name, nd.GetName())
			}
			pending, reads = 0, s
			continue
		}
		l, err := newLayer(nd, inits, producer, shape)
		if err != nil {
			return nil, fmt.Errorf("%w: model %s: %v", ErrNotVGG, spec.Name, err)
		}
		if pending != 0 {
			return nil, fmt.Errorf("%w: model %s: %s %s reads a quantized tensor without its DequantizeLinear", ErrNotVGG, spec.Name, nd.GetOpType(), l.name)
		}
		l.inScale, reads = reads, 0
		if !l.pool && (l.inScale != 0) != (l.wq != nil) {
			return nil, fmt.Errorf("%w: model %s: Conv %s: int8 weights need a quantized input and a quantized input int8 weights", ErrNotVGG, spec.Name, l.name)
		}
		c.layers = append(c.layers, l)
		shape = l.out
	}
	if pending != 0 {
		return nil, fmt.Errorf("%w: model %s: the feature %s is quantized; it must be float", ErrNotVGG, spec.Name, spec.Output)
	}
	if want := [3]int{spec.Channels, spec.GridH, spec.GridW}; shape != want {
		return nil, fmt.Errorf("%w: model %s: the trunk gives %d×%d×%d per image, the spec says %d×%d×%d",
			ErrNotVGG, spec.Name, shape[0], shape[1], shape[2], want[0], want[1], want[2])
	}
	return c, nil
}

// newLayer reads a Conv or MaxPool node whose input is C×H×W = in.
// In an int8 model a convolution's weights and bias are the outputs of
// DequantizeLinear nodes (producer) of int8 and int32 initializers.
func newLayer(nd *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto, producer map[string]*onnxpb.NodeProto, in [3]int) (layer, error) {
	l := layer{name: nd.GetName(), pool: nd.GetOpType() == "MaxPool", in: in}
	if l.name == "" {
		l.name = nd.GetOutput()[0]
	}
	if p := attrString(nd, "auto_pad"); p != "" && p != "NOTSET" && p != "VALID" {
		return l, fmt.Errorf("%s %s: auto_pad %s is not handled", nd.GetOpType(), l.name, p)
	}
	outC := in[0]
	if l.pool {
		k := onnx.AttrInts(nd, "kernel_shape")
		if len(k) != 2 {
			return l, fmt.Errorf("MaxPool %s: kernel_shape %v is not 2-d", l.name, k)
		}
		l.kernel = [2]int{int(k[0]), int(k[1])}
		if attrInt(nd, "ceil_mode", 0) != 0 {
			return l, fmt.Errorf("MaxPool %s: ceil_mode is not handled", l.name)
		}
		if attrInt(nd, "storage_order", 0) != 0 || len(nd.GetOutput()) > 1 && nd.GetOutput()[1] != "" {
			return l, fmt.Errorf("MaxPool %s: the indices output is not handled", l.name)
		}
	} else if dq := producer[nd.GetInput()[1]]; dq != nil {
		if err := l.int8Weights(nd, inits, producer, in); err != nil {
			return l, err
		}
		outC = len(l.wScales)
	} else {
		w := inits[nd.GetInput()[1]]
		if w == nil || len(w.GetDims()) != 4 {
			return l, fmt.Errorf("Conv %s: no constant 4-d weight", l.name)
		}
		d := w.GetDims()
		if attrInt(nd, "group", 1) != 1 {
			return l, fmt.Errorf("Conv %s: grouped convolution is not handled", l.name)
		}
		if int(d[1]) != in[0] {
			return l, fmt.Errorf("Conv %s: weights for %d input channels, the input has %d", l.name, d[1], in[0])
		}
		v, err := onnx.Floats(w)
		if err != nil {
			return l, fmt.Errorf("Conv %s: %v", l.name, err)
		}
		if len(v) != int(d[0]*d[1]*d[2]*d[3]) {
			return l, fmt.Errorf("Conv %s: %d weights for dims %v", l.name, len(v), d)
		}
		l.weights = v
		l.kernel = [2]int{int(d[2]), int(d[3])}
		if k := onnx.AttrInts(nd, "kernel_shape"); len(k) == 2 && (int(k[0]) != l.kernel[0] || int(k[1]) != l.kernel[1]) {
			return l, fmt.Errorf("Conv %s: kernel_shape %v and weights %v disagree", l.name, k, d)
		}
		if in := nd.GetInput(); len(in) > 2 && in[2] != "" {
			b, err := onnx.Floats(inits[in[2]])
			if err != nil || len(b) != int(d[0]) {
				return l, fmt.Errorf("Conv %s: a bias of %d values for %d channels", l.name, len(b), d[0])
			}
			l.bias, l.hasBias = b, true
		}
		outC = int(d[0])
	}
	l.strides, l.dilations = [2]int{1, 1}, [2]int{1, 1}
	if s := onnx.AttrInts(nd, "strides"); len(s) == 2 {
		l.strides = [2]int{int(s[0]), int(s[1])}
	} else if len(s) != 0 {
		return l, fmt.Errorf("%s %s: strides %v are not 2-d", nd.GetOpType(), l.name, s)
	}
	if s := onnx.AttrInts(nd, "dilations"); len(s) == 2 {
		l.dilations = [2]int{int(s[0]), int(s[1])}
	} else if len(s) != 0 {
		return l, fmt.Errorf("%s %s: dilations %v are not 2-d", nd.GetOpType(), l.name, s)
	}
	if p := onnx.AttrInts(nd, "pads"); len(p) == 4 {
		l.pads = [4]int{int(p[0]), int(p[1]), int(p[2]), int(p[3])}
	} else if len(p) != 0 {
		return l, fmt.Errorf("%s %s: pads %v are not 2-d", nd.GetOpType(), l.name, p)
	}
	l.out = [3]int{outC, 0, 0}
	for i := range 2 {
		ext := (l.kernel[i]-1)*l.dilations[i] + 1
		span := in[1+i] + l.pads[i] + l.pads[i+2] - ext
		if l.strides[i] <= 0 || l.dilations[i] <= 0 || span < 0 {
			return l, fmt.Errorf("%s %s: kernel %v, strides %v, dilations %v do not fit a %d×%d input",
				nd.GetOpType(), l.name, l.kernel, l.strides, l.dilations, in[1], in[2])
		}
		l.out[1+i] = span/l.strides[i] + 1
	}
	return l, nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

func attrString(n *onnxpb.NodeProto, name string) string {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return string(a.GetS())
		}
	}
	return ""
}

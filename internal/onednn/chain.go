package onednn

import (
	"errors"
	"fmt"
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
}

// chain is the trunk from the graph input to the feature output.
type chain struct {
	layers []layer
	in     [3]int
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
	if _, err := quantize.Analyse(m, spec.Output, nil); err != nil {
		if errors.Is(err, quantize.ErrUnsupported) {
			why := strings.TrimPrefix(err.Error(), quantize.ErrUnsupported.Error()+": ")
			why = strings.ReplaceAll(why, "nothing to quantize", "nothing to run")
			return nil, fmt.Errorf("%w: model %s: %s", ErrNotVGG, spec.Name, why)
		}
		return nil, fmt.Errorf("model %s: %w", spec.Name, err)
	}
	g := m.GetGraph()
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
		nodes = append(nodes, n)
		t = n.GetInput()[0]
	}
	if t != spec.Input {
		return nil, fmt.Errorf("%w: model %s: the feature %s is computed from %s, not from the input %s", ErrNotVGG, spec.Name, spec.Output, t, spec.Input)
	}
	n := spec.Pre.Size
	c := &chain{in: [3]int{3, n, n}}
	shape := c.in
	for i := len(nodes) - 1; i >= 0; i-- {
		nd := nodes[i]
		switch nd.GetOpType() {
		case "Relu":
			last := len(c.layers) - 1
			switch {
			case last >= 0 && !c.layers[last].pool:
				c.layers[last].relu = true // a second Relu changes nothing
			default:
				return nil, fmt.Errorf("%w: model %s: Relu %s does not follow a convolution", ErrNotVGG, spec.Name, nd.GetName())
			}
			continue
		case "Conv", "MaxPool":
		}
		l, err := newLayer(nd, inits, shape)
		if err != nil {
			return nil, fmt.Errorf("%w: model %s: %v", ErrNotVGG, spec.Name, err)
		}
		c.layers = append(c.layers, l)
		shape = l.out
	}
	if want := [3]int{spec.Channels, spec.GridH, spec.GridW}; shape != want {
		return nil, fmt.Errorf("%w: model %s: the trunk gives %d×%d×%d per image, the spec says %d×%d×%d",
			ErrNotVGG, spec.Name, shape[0], shape[1], shape[2], want[0], want[1], want[2])
	}
	return c, nil
}

// newLayer reads a Conv or MaxPool node whose input is C×H×W = in.
func newLayer(nd *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto, in [3]int) (layer, error) {
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
	} else {
		w := inits[nd.GetInput()[1]]
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

package onednn

import (
	"encoding/binary"
	"fmt"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// What an int8 model (internal/quantize's QDQ graph) holds and the
// executor reads: per-tensor uint8 activations with zero point 0 (the
// quantizer's choice for a ReLU's output: internal/quantize's params),
// per-output-channel symmetric int8 weights, int32 biases.

func isQDQ(op string) bool { return op == "QuantizeLinear" || op == "DequantizeLinear" }

// activationScale reads a QuantizeLinear's or DequantizeLinear's
// per-tensor scale; its zero point must be uint8 0.
func activationScale(nd *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto) (float32, error) {
	in := nd.GetInput()
	if len(in) < 2 {
		return 0, fmt.Errorf("%s %s has no scale", nd.GetOpType(), nd.GetName())
	}
	s, err := onnx.Floats(inits[in[1]])
	if err != nil || len(s) != 1 || !(s[0] > 0) {
		return 0, fmt.Errorf("%s %s: the scale is not one constant positive float", nd.GetOpType(), nd.GetName())
	}
	if len(in) > 2 && in[2] != "" {
		z := inits[in[2]]
		if z == nil || z.GetDataType() != int32(onnxpb.TensorProto_UINT8) {
			return 0, fmt.Errorf("%s %s: the zero point is not a constant uint8 (int8 activations are not handled)", nd.GetOpType(), nd.GetName())
		}
		v, err := ints(z)
		if err != nil || len(v) != 1 {
			return 0, fmt.Errorf("%s %s: the zero point is not one value", nd.GetOpType(), nd.GetName())
		}
		if v[0] != 0 {
			return 0, fmt.Errorf("%s %s: zero point %d; only 0 (a ReLU's output) is handled", nd.GetOpType(), nd.GetName(), v[0])
		}
	}
	return s[0], nil
}

// dequantized returns the initializer that the DequantizeLinear producing
// tensor t reads, its scales (per channel along axis 0, or one) and its
// zero points.
func dequantized(t string, inits map[string]*onnxpb.TensorProto, producer map[string]*onnxpb.NodeProto) (*onnxpb.TensorProto, []float32, []int32, error) {
	dq := producer[t]
	if dq == nil || dq.GetOpType() != "DequantizeLinear" || inits[dq.GetInput()[0]] == nil {
		return nil, nil, nil, fmt.Errorf("%s is not the DequantizeLinear of a constant", t)
	}
	in := dq.GetInput()
	s, err := onnx.Floats(inits[in[1]])
	if err != nil || len(s) == 0 {
		return nil, nil, nil, fmt.Errorf("DequantizeLinear %s: no constant float scale", dq.GetName())
	}
	if len(s) > 1 && attrInt(dq, "axis", 1) != 0 {
		return nil, nil, nil, fmt.Errorf("DequantizeLinear %s: scales along axis %d, not the output channels", dq.GetName(), attrInt(dq, "axis", 1))
	}
	var zp []int32
	if len(in) > 2 && in[2] != "" {
		if zp, err = ints(inits[in[2]]); err != nil {
			return nil, nil, nil, fmt.Errorf("DequantizeLinear %s: zero point: %v", dq.GetName(), err)
		}
	}
	return inits[in[0]], s, zp, nil
}

// int8Weights reads convolution nd's int8 weights and its bias (int32
// dequantized, or float) into l; the bias is kept as real values.
func (l *layer) int8Weights(nd *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto, producer map[string]*onnxpb.NodeProto, in [3]int) error {
	w, ws, zp, err := dequantized(nd.GetInput()[1], inits, producer)
	if err != nil {
		return fmt.Errorf("Conv %s: weights: %v", l.name, err)
	}
	d := w.GetDims()
	if w.GetDataType() != int32(onnxpb.TensorProto_INT8) || len(d) != 4 {
		return fmt.Errorf("Conv %s: the quantized weights are not 4-d int8", l.name)
	}
	if attrInt(nd, "group", 1) != 1 {
		return fmt.Errorf("Conv %s: grouped convolution is not handled", l.name)
	}
	if int(d[1]) != in[0] {
		return fmt.Errorf("Conv %s: weights for %d input channels, the input has %d", l.name, d[1], in[0])
	}
	for _, z := range zp {
		if z != 0 {
			return fmt.Errorf("Conv %s: weight zero point %d; only symmetric weights (0) are handled", l.name, z)
		}
	}
	v, err := ints(w)
	if err != nil || len(v) != int(d[0]*d[1]*d[2]*d[3]) {
		return fmt.Errorf("Conv %s: %d int8 weights for dims %v", l.name, len(v), d)
	}
	l.wq = make([]int8, len(v))
	for i, x := range v {
		l.wq[i] = int8(x)
	}
	oc := int(d[0])
	switch len(ws) {
	case oc:
		l.wScales = ws
	case 1:
		l.wScales = make([]float32, oc)
		for i := range l.wScales {
			l.wScales[i] = ws[0]
		}
	default:
		return fmt.Errorf("Conv %s: %d weight scales for %d channels", l.name, len(ws), oc)
	}
	l.kernel = [2]int{int(d[2]), int(d[3])}
	if k := onnx.AttrInts(nd, "kernel_shape"); len(k) == 2 && (int(k[0]) != l.kernel[0] || int(k[1]) != l.kernel[1]) {
		return fmt.Errorf("Conv %s: kernel_shape %v and weights %v disagree", l.name, k, d)
	}
	bn := ""
	if in := nd.GetInput(); len(in) > 2 {
		bn = in[2]
	}
	switch {
	case bn == "":
	case inits[bn] != nil:
		if l.bias, err = onnx.Floats(inits[bn]); err != nil || len(l.bias) != oc {
			return fmt.Errorf("Conv %s: a bias of %d values for %d channels", l.name, len(l.bias), oc)
		}
		l.hasBias = true
	default:
		b, bs, _, err := dequantized(bn, inits, producer)
		if err != nil {
			return fmt.Errorf("Conv %s: bias: %v", l.name, err)
		}
		q, err := ints(b)
		if err != nil || b.GetDataType() != int32(onnxpb.TensorProto_INT32) || len(q) != oc || (len(bs) != oc && len(bs) != 1) {
			return fmt.Errorf("Conv %s: the bias is not %d int32 values with their scales", l.name, oc)
		}
		l.bias = make([]float32, oc)
		for c := range oc {
			l.bias[c] = float32(float64(bs[min(c, len(bs)-1)]) * float64(q[c]))
		}
		l.hasBias = true
	}
	return nil
}

// ints returns the values of an int8, uint8 or int32 initializer, stored
// as raw_data or int32_data.
func ints(t *onnxpb.TensorProto) ([]int32, error) {
	if t == nil {
		return nil, fmt.Errorf("no constant tensor")
	}
	if v := t.GetInt32Data(); len(v) > 0 {
		return v, nil
	}
	raw := t.GetRawData()
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_INT8:
		v := make([]int32, len(raw))
		for i, b := range raw {
			v[i] = int32(int8(b))
		}
		return v, nil
	case onnxpb.TensorProto_UINT8:
		v := make([]int32, len(raw))
		for i, b := range raw {
			v[i] = int32(b)
		}
		return v, nil
	case onnxpb.TensorProto_INT32:
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("tensor %s: %d raw bytes are not int32s", t.GetName(), len(raw))
		}
		v := make([]int32, len(raw)/4)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return v, nil
	}
	return nil, fmt.Errorf("tensor %s is not int8, uint8 or int32", t.GetName())
}

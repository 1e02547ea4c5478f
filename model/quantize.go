package model

import (
	"fmt"
	"strings"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// The values of Spec.Quantized.
const (
	QuantizedInt8 = "int8"
	QuantizedNone = "none"
)

// IsInt8 reports whether the model computes in int8, as its graph says
// (Quantized). A spec saved before the graph was read for it falls back
// on the rule of that time, the name: NAME-int8 (QuantizedName and the
// catalog's vgg16-int8).
func (s Spec) IsInt8() bool {
	if s.Quantized != "" {
		return s.Quantized == QuantizedInt8
	}
	return strings.HasSuffix(s.Name, "-int8")
}

// quantization is Spec.Quantized for graph g: int8 when a node
// quantizes, dequantizes or computes on integers.
func quantization(g *onnxpb.GraphProto) string {
	for _, n := range g.GetNode() {
		switch n.GetOpType() {
		case "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
			"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger":
			return QuantizedInt8
		}
	}
	return QuantizedNone
}

// QuantizedName is the name simsearch gives its own int8 quantization of
// the model name: vgg16-random becomes vgg16-random-int8.
func QuantizedName(name string) string { return name + "-int8" }

// PretrainedInt8 returns the catalog entry that is a pretrained int8
// model of name (vgg16-int8 for vgg16, from the ONNX model zoo), if the
// catalog has one. simsearch never installs its own quantization under
// that entry's name.
func PretrainedInt8(name string) (Entry, bool) {
	e, ok := Lookup(QuantizedName(name))
	if !ok || e.URL == "" {
		return Entry{}, false
	}
	return e, true
}

// InstallQuantized installs m, an int8 graph made from an installed
// model, as dir/<s.Name>.onnx with the spec s (completed with the file's
// path and digest; its centres are left to be computed on the int8
// model). A catalog name is refused: the catalog's models are what it
// says they are.
func InstallQuantized(dir string, m *onnxpb.ModelProto, s Spec) (Spec, error) {
	if err := checkName(s.Name); err != nil {
		return Spec{}, err
	}
	if _, ok := Lookup(s.Name); ok {
		return Spec{}, fmt.Errorf("install %s: %w: a catalog model has that name", s.Name, ErrSpec)
	}
	if err := s.Pre.Validate(); err != nil {
		return Spec{}, err
	}
	s.Center = nil
	return install(dir, m, s)
}

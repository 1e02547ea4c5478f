package model

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// tinyConfig is a VGG-like network small enough to build in microseconds:
// two blocks of 4 and 8 channels on a 32×32 input, with two dense layers.
func tinyConfig() onnx.VGGConfig {
	return onnx.VGGConfig{Name: "tiny", Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{16, 10}, Seed: 1}
}

// zooStyle rewrites a built VGG the way a model zoo classifier comes: the
// batch fixed to 1 and only the classifier as output, with stale
// value_info left behind.
func zooStyle(t *testing.T, m *onnxpb.ModelProto) {
	t.Helper()
	g := m.GetGraph()
	if len(g.GetOutput()) != 2 {
		t.Fatalf("want a model with feature and classifier outputs, got %d outputs", len(g.GetOutput()))
	}
	g.ValueInfo = append(g.ValueInfo, onnx.TensorValueInfo("block1_pool", 1, 99, 99, 99))
	g.Output = g.Output[1:]
	for _, v := range append(g.GetInput(), g.GetOutput()...) {
		v.GetType().GetTensorType().GetShape().GetDim()[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}
	}
}

// tinyZooBytes is the encoded zoo-style tiny model.
func tinyZooBytes(t *testing.T) []byte {
	t.Helper()
	v, err := onnx.NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	zooStyle(t, v.Model)
	b, err := onnx.EncodeModel(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// outputNames lists the graph's output names.
func outputNames(m *onnxpb.ModelProto) []string {
	var names []string
	for _, o := range m.GetGraph().GetOutput() {
		names = append(names, o.GetName())
	}
	return names
}

package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus")

// tinyConfig is a VGG-like network small enough to build in microseconds:
// two blocks of 4 and 8 channels on a 32×32 input, with two dense layers.
func tinyConfig() VGGConfig {
	return VGGConfig{Name: "tiny", Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{16, 10}, Seed: 1}
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
	g.ValueInfo = append(g.ValueInfo, TensorValueInfo("block1_pool", 1, 99, 99, 99))
	g.Output = g.Output[1:]
	for _, v := range append(g.GetInput(), g.GetOutput()...) {
		v.GetType().GetTensorType().GetShape().GetDim()[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

// outputNames lists the graph's output names.
func outputNames(m *onnxpb.ModelProto) []string {
	var names []string
	for _, o := range m.GetGraph().GetOutput() {
		names = append(names, o.GetName())
	}
	return names
}

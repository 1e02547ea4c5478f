package model

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
)

func TestRegister_VectorModel(t *testing.T) {
	enc := onnxtest.NewEncoder(16, 4, 8, 1)
	path := writeModel(t, enc.Model)
	for _, tt := range []struct {
		name string
		spec Spec
	}{
		{"the only output", Spec{Name: "enc", Pre: TorchPreprocess(16)}},
		{"named, pooling none", Spec{Name: "enc", Output: "image_embeds", Pooling: None, Pre: TorchPreprocess(16)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Register(dir, path, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Input != "pixel_values" || s.Output != "image_embeds" || s.Channels != 8 || s.GridH != 1 || s.GridW != 1 ||
				s.OutputLayout != NCHW || s.Pooling != None || s.Logits != "" {
				t.Errorf("spec = %+v, want image_embeds as an 8-d vector, pooling none, no classifier", s)
			}
			m, err := onnx.ReadModel(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			dims, _ := onnx.ValueInfoDims(m.GetGraph().GetOutput()[0])
			if !slices.Equal(dims, []int64{-1, 8}) {
				t.Errorf("declared output %v, want [N 8]", dims)
			}
		})
	}
	// Another pooling cannot apply to a vector, nor none to a map.
	if _, err := Register(t.TempDir(), path, Spec{Name: "enc", Pooling: MAC, Pre: TorchPreprocess(16)}); !errors.Is(err, ErrSpec) {
		t.Errorf("vector model with pooling mac: err = %v, want ErrSpec", err)
	}
	v, err := onnx.NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Register(t.TempDir(), writeModel(t, v.Model), Spec{Name: "map", Pooling: None, Pre: TorchPreprocess(32)}); !errors.Is(err, ErrSpec) {
		t.Errorf("feature map with pooling none: err = %v, want ErrSpec", err)
	}
}

func TestRegister_Logits(t *testing.T) {
	zoo, err := onnx.NewVGG(tinyConfig()) // classifier "predictions", 10 classes
	if err != nil {
		t.Fatal(err)
	}
	zooStyle(t, zoo.Model)
	path := writeModel(t, zoo.Model)
	imagenet := tinyConfig()
	imagenet.Dense = []int{16, 1000}
	in, err := onnx.NewVGG(imagenet)
	if err != nil {
		t.Fatal(err)
	}
	inPath := writeModel(t, in.Model)
	trunk := tinyConfig()
	trunk.Dense = nil
	tr, err := onnx.NewVGG(trunk)
	if err != nil {
		t.Fatal(err)
	}
	trPath := writeModel(t, tr.Model)

	for _, tt := range []struct {
		name    string
		path    string
		spec    Spec
		logits  string
		classes int
		labels  string
	}{
		{"detected", path, Spec{Name: "a"}, "predictions", 10, ""},
		{"named", path, Spec{Name: "a", Logits: "fc1"}, "fc1", 16, ""},
		{"imagenet labels", inPath, Spec{Name: "a", Labels: LabelsImageNet}, "predictions", 1000, LabelsImageNet},
		{"no classifier", trPath, Spec{Name: "a"}, "", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Pre = TorchPreprocess(32)
			dir := t.TempDir()
			s, err := Register(dir, tt.path, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Output != "block2_pool" || s.Logits != tt.logits || s.Classes != tt.classes || s.Labels != tt.labels {
				t.Errorf("output %s, logits %q, %d classes, labels %q; want block2_pool, %q, %d, %q",
					s.Output, s.Logits, s.Classes, s.Labels, tt.logits, tt.classes, tt.labels)
			}
			if tt.logits != "" {
				m, err := onnx.ReadModel(s.Path)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(outputNames(m), tt.logits) {
					t.Errorf("outputs %q lack the classifier %s", outputNames(m), tt.logits)
				}
			}
		})
	}
	for _, tt := range []struct {
		name string
		path string
		spec Spec
	}{
		{"imagenet labels on 10 classes", path, Spec{Name: "a", Labels: LabelsImageNet}},
		{"imagenet labels without a classifier", trPath, Spec{Name: "a", Labels: LabelsImageNet}},
		{"unknown labels", inPath, Spec{Name: "a", Labels: "coco"}},
		{"logits not a matrix", path, Spec{Name: "a", Logits: "block1_pool"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Pre = TorchPreprocess(32)
			dir := t.TempDir()
			if _, err := Register(dir, tt.path, tt.spec); !errors.Is(err, ErrSpec) {
				t.Errorf("err = %v, want ErrSpec", err)
			}
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files left in the model dir: %q", got)
			}
		})
	}
}

// A spec loaded from a relative model directory and saved again (as
// PrepareModel does after computing centres) still names its file.
func TestSaveSpec_RelativeDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	v, err := onnx.NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Register("models", writeModel(t, v.Model), Spec{Name: "a", Pre: TorchPreprocess(32)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := Load("models", "a")
		if err != nil {
			t.Fatal(err)
		}
		if err := SaveSpec("models/a.json", s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load("models", "a"); err != nil {
		t.Errorf("after saving twice: %v", err)
	}
}

// An int8 export registers with its float feature: the last max-pool
// (on uint8) dequantized.
func TestRegister_Quantized(t *testing.T) {
	q, err := onnxtest.QuantizedVGG(onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8}}, Dense: []int{6, 5}, Seed: 4}, onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Register(t.TempDir(), writeModel(t, q.Model), Spec{Name: "int8", Pre: TorchPreprocess(32)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Output != "block2_pool_dequantized" || s.Channels != 8 || s.GridH != 8 || s.Logits != "predictions" || s.Classes != 5 {
		t.Errorf("spec output %s %d×%d×%d, logits %s (%d)", s.Output, s.Channels, s.GridH, s.GridW, s.Logits, s.Classes)
	}
}

// TestSpec_IsInt8FromGraph: whether a model is int8 comes from its graph,
// recorded when it is installed, whatever its name: an int8 export
// registered as "fast" is int8, a float one registered as "plain-int8"
// is not. A spec saved before the graph was read (no "quantized") goes
// by the name, as every simsearch did until then.
func TestSpec_IsInt8FromGraph(t *testing.T) {
	dir := t.TempDir()
	q, err := onnxtest.QuantizedVGG(onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8}}, Seed: 4}, onnxtest.DequantizedPool)
	if err != nil {
		t.Fatal(err)
	}
	f, err := onnx.NewVGG(onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}, {8}}, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want bool
	}{
		{"fast", writeModel(t, q.Model), true},
		{"plain-int8", writeModel(t, f.Model), false},
	} {
		s, err := Register(dir, tc.path, Spec{Name: tc.name, Pre: TorchPreprocess(32)})
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := Load(dir, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if s.IsInt8() != tc.want || loaded.IsInt8() != tc.want {
			t.Errorf("%s: IsInt8 %v (installed) %v (loaded, quantized %q), want %v", tc.name, s.IsInt8(), loaded.IsInt8(), loaded.Quantized, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"old-int8", true}, {"old", false}} {
		path := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(path, []byte(`{"name": "`+tc.name+`", "path": "x.onnx"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.IsInt8() != tc.want {
			t.Errorf("spec of %s without \"quantized\": IsInt8 %v, want %v", tc.name, s.IsInt8(), tc.want)
		}
	}
}

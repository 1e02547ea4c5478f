package model

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

func TestDefaultDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fallback checked here is the Linux one")
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"override", map[string]string{"SIMSEARCH_MODELS": "/m", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/m", false},
		{"xdg", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/simsearch/models", false},
		{"relative xdg ignored", map[string]string{"XDG_CACHE_HOME": "x", "HOME": "/h"}, "/h/.cache/simsearch/models", false},
		{"home", map[string]string{"HOME": "/h"}, "/h/.cache/simsearch/models", false},
		{"nothing", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultDir(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("DefaultDir = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSpec_SaveLoadInstalled(t *testing.T) {
	dir := t.TempDir()
	if got, err := Installed(filepath.Join(dir, "missing")); err != nil || len(got) != 0 {
		t.Errorf("Installed(missing dir) = %v, %v; want nothing", got, err)
	}
	e, _ := Lookup("vgg16")
	a := e.Spec
	a.Path = "vgg16.onnx" // relative: resolved against the spec's directory
	a.SHA256 = "ab"
	a.Center = map[Pooling][]float32{GAP: {0.5, -0.25}, MAC: {1}}
	if err := SaveSpec(filepath.Join(dir, "vgg16.json"), a); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Name, b.Path = "another", filepath.Join(dir, "another.onnx")
	if err := SaveSpec(filepath.Join(dir, "another.json"), b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vgg16.onnx.part"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSpec(filepath.Join(dir, "vgg16.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != filepath.Join(dir, "vgg16.onnx") {
		t.Errorf("path = %q, want it next to the spec", got.Path)
	}
	got.Path = a.Path
	if got.Fingerprint(GAP) != a.Fingerprint(GAP) || got.Pre != a.Pre || !slices.Equal(got.Center[GAP], a.Center[GAP]) {
		t.Errorf("spec changed in a round trip:\n got %+v\nwant %+v", got, a)
	}
	list, err := Installed(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "another" || list[1].Name != "vgg16" {
		t.Errorf("Installed = %v, want another and vgg16", list)
	}
	if _, err := Load(dir, "vgg16"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Load without the onnx file: err = %v, want ErrNotInstalled", err)
	}
	if _, err := Load(dir, "nope"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Load(nope): err = %v, want ErrNotInstalled", err)
	}
	if _, err := Load(dir, "../etc"); !errors.Is(err, ErrSpec) {
		t.Errorf("Load(../etc): err = %v, want ErrSpec", err)
	}
}

func TestSpec_Fingerprint(t *testing.T) {
	e, _ := Lookup("vgg16")
	base := e.Spec
	base.SHA256 = "722c"
	base.Output = "vgg0_pool4_fwd"
	fp := base.Fingerprint(GAP)
	if len(fp) != 64 {
		t.Errorf("fingerprint %q is not a hex sha256", fp)
	}
	if again := base.Fingerprint(GAP); again != fp {
		t.Error("fingerprint is not stable")
	}
	variants := map[string]func(s *Spec){
		"model file":   func(s *Spec) { s.SHA256 = "722d" },
		"output":       func(s *Spec) { s.Output = "other" },
		"channels":     func(s *Spec) { s.Channels = 256 },
		"grid":         func(s *Spec) { s.GridH = 14 },
		"input size":   func(s *Spec) { s.Pre.Size = 256 },
		"resize":       func(s *Spec) { s.Pre.Resize = ResizeSquash },
		"shorter side": func(s *Spec) { s.Pre.ResizeShorter = 224 },
		"mean":         func(s *Spec) { s.Pre.Mean[2] = 0.407 },
		"order":        func(s *Spec) { s.Pre.Order = BGR },
		"center":       func(s *Spec) { s.Center = map[Pooling][]float32{GAP: {0.1}} },
	}
	seen := map[string]string{fp: "base"}
	for name, edit := range variants {
		s := base
		s.Center = nil
		edit(&s)
		got := s.Fingerprint(GAP)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same fingerprint as %s", name, prev)
		}
		seen[got] = name
	}
	for _, p := range []Pooling{MAC, GeM, RMAC} {
		if got := base.Fingerprint(p); seen[got] != "" {
			t.Errorf("pooling %s: same fingerprint as %s", p, seen[got])
		} else {
			seen[got] = string(p)
		}
	}
	// A centre for another pooling does not change this one's vectors.
	s := base
	s.Center = map[Pooling][]float32{MAC: {0.1}}
	if s.Fingerprint(GAP) != fp {
		t.Error("a MAC centre changed the GAP fingerprint")
	}
}

func TestPreprocess_Validate(t *testing.T) {
	if err := TorchPreprocess(224).Validate(); err != nil {
		t.Error(err)
	}
	if err := CaffePreprocess(224).Validate(); err != nil {
		t.Error(err)
	}
	tests := map[string]func(p *Preprocess){
		"size":   func(p *Preprocess) { p.Size = 0 },
		"resize": func(p *Preprocess) { p.Resize = "zoom" },
		"crop":   func(p *Preprocess) { p.ResizeShorter = 100 },
		"layout": func(p *Preprocess) { p.Layout = "CHW" },
		"order":  func(p *Preprocess) { p.Order = "GRB" },
		"scale":  func(p *Preprocess) { p.Scale = 0 },
		"std":    func(p *Preprocess) { p.Std[1] = 0 },
	}
	for name, edit := range tests {
		p := TorchPreprocess(224)
		edit(&p)
		if err := p.Validate(); !errors.Is(err, ErrSpec) {
			t.Errorf("%s: err = %v, want ErrSpec", name, err)
		}
	}
}

// kerasStyle turns a built trunk into what tf2onnx makes of a Keras
// include_top=False onnx.VGG: an NHWC input named input_1, a Transpose to NCHW
// before the first convolution and one back to NHWC at the end, which is
// the only output.
func kerasStyle(t *testing.T, v *onnx.VGG) {
	t.Helper()
	g := v.Model.GetGraph()
	s := g.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	g.Input[0] = onnx.TensorValueInfo("input_1", -1, s[2].GetDimValue(), s[3].GetDimValue(), s[1].GetDimValue())
	toNCHW := onnx.Node("Transpose", []string{"input_1"}, "data", onnx.IntsAttr("perm", 0, 3, 1, 2))
	toNHWC := onnx.Node("Transpose", []string{v.Feature.Name}, "features", onnx.IntsAttr("perm", 0, 2, 3, 1))
	g.Node = slices.Concat([]*onnxpb.NodeProto{toNCHW}, g.Node, []*onnxpb.NodeProto{toNHWC})
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String("features")}}
}

func writeModel(t *testing.T, m *onnxpb.ModelProto) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.onnx")
	if err := onnx.WriteModel(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRegister(t *testing.T) {
	trunk := onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}, {16}}, Seed: 2}
	plain, err := onnx.NewVGG(trunk)
	if err != nil {
		t.Fatal(err)
	}
	keras, err := onnx.NewVGG(trunk)
	if err != nil {
		t.Fatal(err)
	}
	kerasStyle(t, keras)
	dense := tinyConfig()
	zoo, err := onnx.NewVGG(dense)
	if err != nil {
		t.Fatal(err)
	}
	zooStyle(t, zoo.Model)

	tests := []struct {
		name   string
		m      *onnxpb.ModelProto
		spec   Spec
		output string
		layout Layout
		c, h   int
	}{
		{"pytorch trunk, output found", plain.Model, Spec{Name: "torch", Pre: TorchPreprocess(32)}, "block2_pool", NCHW, 16, 8},
		{"zoo classifier, pool exposed", zoo.Model, Spec{Name: "zoo", Input: "data", Pre: TorchPreprocess(32)}, "block2_pool", NCHW, 8, 8},
		{"keras caffe NHWC BGR", keras.Model, Spec{Name: "keras", Output: "features", Pre: CaffePreprocess(32)}, "features", NHWC, 16, 8},
		{"keras, last max-pool inside", keras.Model, Spec{Name: "keras-pool", Pre: CaffePreprocess(32)}, "block2_pool", NCHW, 16, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Register(dir, writeModel(t, tt.m), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if s.Output != tt.output || s.OutputLayout != tt.layout || s.Channels != tt.c || s.GridH != tt.h || s.GridW != tt.h {
				t.Errorf("registered output %s %s %d×%d×%d, want %s %s %d×%d×%d",
					s.Output, s.OutputLayout, s.Channels, s.GridH, s.GridW, tt.output, tt.layout, tt.c, tt.h, tt.h)
			}
			if s.Pre != tt.spec.Pre || s.Pooling == "" || s.Threshold == 0 {
				t.Errorf("registered preprocessing %+v, pooling %q, threshold %v", s.Pre, s.Pooling, s.Threshold)
			}
			loaded, err := Load(dir, tt.spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := loaded.Verify(); err != nil {
				t.Error(err)
			}
			m, err := onnx.ReadModel(loaded.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(outputNames(m), tt.output) {
				t.Errorf("outputs %q lack %s", outputNames(m), tt.output)
			}
		})
	}
}

func TestRegister_Rejects(t *testing.T) {
	v, err := onnx.NewVGG(onnx.VGGConfig{Size: 32, InChannels: 3, Blocks: [][]int{{4}}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := writeModel(t, v.Model)
	garbage := filepath.Join(t.TempDir(), "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		spec Spec
		want error
	}{
		{"bad name", path, Spec{Name: "../x", Pre: TorchPreprocess(32)}, ErrSpec},
		{"bad preprocessing", path, Spec{Name: "x", Pre: Preprocess{Size: 32}}, ErrSpec},
		{"no such input", path, Spec{Name: "x", Input: "image", Pre: TorchPreprocess(32)}, ErrSpec},
		{"wrong size", path, Spec{Name: "x", Pre: TorchPreprocess(64)}, ErrSpec},
		{"wrong layout", path, Spec{Name: "x", Pre: CaffePreprocess(32)}, ErrSpec},
		{"no such output", path, Spec{Name: "x", Output: "fc9", Pre: TorchPreprocess(32)}, ErrSpec},
		{"output not a map", path, Spec{Name: "x", Output: "block1_conv1_b", Pre: TorchPreprocess(32)}, ErrSpec},
		{"not onnx", garbage, Spec{Name: "x", Pre: TorchPreprocess(32)}, onnx.ErrInvalidModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Register(dir, tt.path, tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files left in the model dir: %q", got)
			}
		})
	}
}

// A models directory moved or copied whole still loads: a model file
// beside its spec is recorded relative to it.
func TestSaveSpec_MovableDirectory(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "old")
	os.MkdirAll(old, 0o755)
	e, _ := Lookup("vgg16")
	s := e.Spec
	s.Path = filepath.Join(old, "vgg16.onnx")
	if err := os.WriteFile(s.Path, []byte("onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveSpec(filepath.Join(old, "vgg16.json"), s); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(root, "moved")
	if err := os.Rename(old, moved); err != nil {
		t.Fatal(err)
	}
	got, err := Load(moved, "vgg16")
	if err != nil {
		t.Fatalf("Load after moving the directory: %v", err)
	}
	if got.Path != filepath.Join(moved, "vgg16.onnx") {
		t.Errorf("path = %q, want it in the moved directory", got.Path)
	}
	// A model file elsewhere keeps its absolute path.
	s.Path = "/opt/models/vgg16.onnx"
	if err := SaveSpec(filepath.Join(moved, "elsewhere.json"), s); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSpec(filepath.Join(moved, "elsewhere.json")); err != nil || got.Path != s.Path {
		t.Errorf("LoadSpec = %q, %v; want the absolute path kept", got.Path, err)
	}
}

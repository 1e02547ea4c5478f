package model

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx"
)

func TestPretrainedInt8(t *testing.T) {
	if e, ok := PretrainedInt8("vgg16"); !ok || e.Name != "vgg16-int8" || e.URL == "" {
		t.Errorf("PretrainedInt8(vgg16) = %q, %v; want the zoo's vgg16-int8", e.Name, ok)
	}
	for _, name := range []string{"vgg16-random", "vgg19", "mynet"} {
		if e, ok := PretrainedInt8(name); ok {
			t.Errorf("PretrainedInt8(%s) = %s, want none", name, e.Name)
		}
	}
	if got := QuantizedName("vgg16-random"); got != "vgg16-random-int8" {
		t.Errorf("QuantizedName = %q", got)
	}
}

func TestInstallQuantized(t *testing.T) {
	dir := t.TempDir()
	v, err := onnx.NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	base := Spec{Name: "tiny", Pre: TorchPreprocess(32), Input: "data", Output: v.Feature.Name, Channels: 8, GridH: 8, GridW: 8,
		Pooling: RMAC, Threshold: 0.7, Random: true, Center: map[Pooling][]float32{RMAC: make([]float32, 8)}}
	s := base
	s.Name = "tiny-int8"
	got, err := InstallQuantized(dir, v.Model, s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Center != nil || got.SHA256 == "" || got.Path != filepath.Join(dir, "tiny-int8.onnx") || !got.Random {
		t.Errorf("installed spec: centre %v, sha256 %q, path %s, random %v; want no centre (the int8 model's own comes later), a digest, the file in dir, random kept",
			got.Center, got.SHA256, got.Path, got.Random)
	}
	if loaded, err := Load(dir, "tiny-int8"); err != nil || loaded.SHA256 != got.SHA256 {
		t.Errorf("Load: %v, %v", loaded.SHA256, err)
	}
	s.Name = "vgg16-int8"
	if _, err := InstallQuantized(dir, v.Model, s); !errors.Is(err, ErrSpec) {
		t.Errorf("installing under the catalog's vgg16-int8: %v, want ErrSpec", err)
	}
}

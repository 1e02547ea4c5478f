package onnx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadModel feeds arbitrary bytes to the ONNX decoder and then to
// everything that walks a decoded graph: none of it may panic, hang or
// allocate without bound, since users register ONNX files of any origin.
// The seed corpus in testdata/fuzz/FuzzReadModel holds a tiny model
// (regenerated with go test -run TestFuzzSeeds -update).
func FuzzReadModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x08\x07"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeModel(b)
		if err != nil {
			return
		}
		if _, err := InferShapes(m); err != nil {
			return
		}
		if err := Summary(io.Discard, m); err != nil {
			t.Errorf("summary failed after shape inference passed: %v", err)
		}
		if err := Dot(io.Discard, m); err != nil {
			t.Errorf("dot failed after shape inference passed: %v", err)
		}
		ExposeFeatures(m) //nolint:errcheck // only must not panic
	})
}

// TestFuzzSeeds checks that the committed seed corpus still decodes to the
// tiny model, and rewrites it under -update.
func TestFuzzSeeds(t *testing.T) {
	v, err := NewVGG(VGGConfig{Size: 4, InChannels: 1, Blocks: [][]int{{2}}, Dense: []int{2}, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeModel(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "fuzz", "FuzzReadModel", "tiny_vgg")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Error("the fuzz seed is not the tiny model any more; rerun with -update")
	}
}

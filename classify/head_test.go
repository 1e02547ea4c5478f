package classify

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestHead_PredictSaveLoad(t *testing.T) {
	h := &Head{
		Version: HeadVersion,
		Dim:     2,
		Classes: []Class{{"cat", "cat"}, {"dog", "dog"}},
		W:       []float32{1, 0, 0, 1},
		B:       []float32{0, 1},
	}
	p, err := h.Predict([]float32{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	// scores 2 and 1
	want := 1 / (1 + math.Exp(-1))
	if math.Abs(float64(p[0])-want) > 1e-6 || math.Abs(float64(p[0]+p[1])-1) > 1e-6 {
		t.Fatalf("p = %v, want [%v, %v]", p, want, 1-want)
	}
	path := filepath.Join(t.TempDir(), "head.json")
	if err := SaveHead(path, h); err != nil {
		t.Fatal(err)
	}
	g, err := LoadHead(path)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := g.Predict([]float32{2, 0}); q[0] != p[0] {
		t.Errorf("loaded head predicts %v, saved one %v", q, p)
	}
	if _, err := h.Predict([]float32{1}); !errors.Is(err, ErrHead) {
		t.Errorf("wrong dimension: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":1,"dim":3,"classes":[{"id":"a"},{"id":"b"}],"w":[1],"b":[0,0]}`), 0o644)
	if _, err := LoadHead(path); !errors.Is(err, ErrHead) {
		t.Errorf("a head whose shapes disagree loaded: %v", err)
	}
}

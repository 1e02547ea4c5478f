//go:build cgo

package extractor

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// tinyClassifier is tinyVGG with two dense layers (8×4×4 → 6 → 5), its
// spec naming the logits as the classifier output.
func tinyClassifier(t *testing.T) (model.Spec, *onnx.VGG) {
	t.Helper()
	cfg := onnx.VGGConfig{Name: "tinycls", Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{6, 5}, Seed: 7}
	v, err := onnx.NewVGG(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Biases that are not zero, so that a bias lost on the way shows.
	for i := range v.Weights.Dense {
		for j := range v.Weights.Dense[i].B {
			v.Weights.Dense[i].B[j] = float32(j) / 4
		}
	}
	path := filepath.Join(t.TempDir(), "tinycls.onnx")
	if err := onnx.WriteModel(path, v.Model); err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{
		Name: "tinycls", Path: path, Input: "data", Output: v.Feature.Name,
		Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
		Pre: model.TorchPreprocess(16), Pooling: model.GAP,
		Logits: v.Output, Classes: 5,
	}
	return spec, v
}

// dense computes Gemm (transB) + ReLU between layers, none after the last.
func dense(ls []onnx.Layer, x []float32) []float32 {
	for li, l := range ls {
		out, in := int(l.Shape[0]), int(l.Shape[1])
		y := make([]float32, out)
		for o := range y {
			s := float64(l.B[o])
			for i := 0; i < in; i++ {
				s += float64(l.W[o*in+i]) * float64(x[i])
			}
			if li < len(ls)-1 {
				s = math.Max(s, 0)
			}
			y[o] = float32(s)
		}
		x = y
	}
	return x
}

// One run gives the feature map and the scores, each equal to the Go
// reference of the same network.
func TestSession_RunScoresMatchesGoReference(t *testing.T) {
	rt := openTestRuntime(t)
	spec, v := tinyClassifier(t)
	s, err := rt.NewSession(spec, &SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const batch = 3
	r := rand.New(rand.NewPCG(3, 4))
	in := make([]float32, batch*3*16*16)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	fm, scores, err := s.RunScores(context.Background(), in, batch)
	if err != nil {
		t.Fatal(err)
	}
	per := 8 * 4 * 4
	if len(fm) != batch*per || len(scores) != batch*5 {
		t.Fatalf("got %d features and %d scores, want %d and %d", len(fm), len(scores), batch*per, batch*5)
	}
	for b := 0; b < batch; b++ {
		feat := reference([][]int{{4}, {8, 8}}, v.Weights, in[b*3*256:(b+1)*3*256], 3, 16)
		for i := range feat {
			if d := math.Abs(float64(fm[b*per+i] - feat[i])); d > 1e-4 {
				t.Fatalf("image %d feature %d: ORT %g, Go %g", b, i, fm[b*per+i], feat[i])
			}
		}
		want := dense(v.Weights.Dense, feat)
		for i := range want {
			if d := math.Abs(float64(scores[b*5+i] - want[i])); d > 1e-3 {
				t.Errorf("image %d score %d: ORT %g, Go %g", b, i, scores[b*5+i], want[i])
			}
		}
	}
	// The same session without a classifier output gives no scores and
	// the same features.
	spec.Logits, spec.Classes = "", 0
	plain, err := rt.NewSession(spec, &SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	fm2, sc2, err := plain.RunScores(context.Background(), in, batch)
	if err != nil || sc2 != nil {
		t.Fatalf("no classifier: scores %v, err %v", sc2, err)
	}
	for i := range fm {
		if fm[i] != fm2[i] {
			t.Fatalf("feature %d: %g with the classifier output, %g without", i, fm[i], fm2[i])
		}
	}
}

func TestSession_ScoresShapeChecked(t *testing.T) {
	rt := openTestRuntime(t)
	spec, _ := tinyClassifier(t)
	spec.Classes = 1000 // the graph has 5
	s, err := rt.NewSession(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.RunScores(context.Background(), make([]float32, 3*16*16), 1)
	if err == nil || !strings.Contains(err.Error(), "classifier output") || !strings.Contains(err.Error(), "1000 scores") {
		t.Fatalf("a classifier of 5 classes read as 1000 gave %v", err)
	}
	spec.Classes = 0
	if _, err := rt.NewSession(spec, nil); err == nil || !strings.Contains(err.Error(), "0 classes") {
		t.Fatalf("a classifier output without classes opened: %v", err)
	}
	spec.Classes, spec.Logits = 5, "nonexistent"
	s3, err := rt.NewSession(spec, nil)
	if err == nil {
		defer s3.Close()
		_, _, err = s3.RunScores(context.Background(), make([]float32, 3*16*16), 1)
	}
	if err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("a classifier output the graph lacks gave %v", err)
	}
}

// The extractor hands each image its own scores next to its vector.
func TestExtractor_Scores(t *testing.T) {
	rt := openTestRuntime(t)
	spec, _ := tinyClassifier(t)
	ex, err := New(rt, spec, &Options{Raw: true, Batch: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	sess, err := rt.NewSession(spec, &SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	paths, err := filepath.Glob("../../testdata/photos/*.jpg")
	if err != nil || len(paths) < 3 {
		t.Fatalf("sample photos: %v, %v", paths, err)
	}
	paths = paths[:3]
	got := make([]Result, len(paths))
	err = ex.Files(context.Background(), paths, func(r Result) error {
		got[r.Seq] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Err != nil || len(r.Scores) != 5 || len(r.Vector) != 8 {
			t.Fatalf("%s: %d scores, %d dims, %v", paths[i], len(r.Scores), len(r.Vector), r.Err)
		}
		o := ex.decode // as the extractor decodes
		img, _, err := DecodeFile(paths[i], &o)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]float32, 3*16*16)
		if err := Tensor(in, img, spec.Pre); err != nil {
			t.Fatal(err)
		}
		_, want, err := sess.RunScores(context.Background(), in, 1)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if math.Abs(float64(r.Scores[j]-want[j])) > 1e-4 {
				t.Errorf("%s score %d: %g in a batch, %g alone", paths[i], j, r.Scores[j], want[j])
			}
		}
	}
	if got[0].Scores[0] == got[1].Scores[0] && got[0].Scores[1] == got[1].Scores[1] {
		t.Errorf("two different photos have the same scores %v", got[0].Scores)
	}
}

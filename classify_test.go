package simsearch

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// knownBias are the scores of the bias-only classifier: tiger 3, tiger
// shark 2, tabby 1, every other class 0.
var knownBias = map[int]float32{292: 3, 3: 2, 281: 1}

// tinyClassifier installs name in dir: a tiny VGG trunk (16×16 input,
// an 8×4×4 feature map) with one dense layer of 1,000 ImageNet classes.
// With bias only, its weights are zero and its bias knownBias, so every
// image scores exactly knownBias; otherwise the weights are random and
// the scores differ from image to image. It has random weights either
// way, and its spec says so.
func tinyClassifier(t *testing.T, dir, name string, biasOnly bool) *Model {
	t.Helper()
	cfg := onnx.VGGConfig{Name: name, Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8}}, Dense: []int{1000}, Seed: 11}
	v, err := onnx.NewVGG(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if biasOnly {
		d := &v.Weights.Dense[0]
		clear(d.W)
		for i, s := range knownBias {
			d.B[i] = s
		}
	}
	path := filepath.Join(dir, name+".onnx")
	if err := onnx.WriteModel(path, v.Model); err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{
		Name: name, Description: "tiny classifier, " + model.RandomDescription, Path: path,
		Input: "data", Output: v.Feature.Name, Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
		Pre: model.TorchPreprocess(16), Pooling: model.GAP, Threshold: 0.9, Random: true,
		Logits: v.Output, Classes: 1000, Labels: model.LabelsImageNet,
	}
	if err := model.SaveSpec(filepath.Join(dir, name+".json"), spec); err != nil {
		t.Fatal(err)
	}
	m, err := PrepareModel(context.Background(), &ModelOptions{Dir: dir, Name: name, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Classify on known scores: the top 3 are tiger, tiger shark and tabby
// with the probabilities of a softmax computed by hand, for every image;
// a file that is not an image fails alone.
func TestModel_ClassifyKnownScores(t *testing.T) {
	openRuntime(t)
	m := tinyClassifier(t, t.TempDir(), "tiny-bias", true)
	paths, _ := samplePhotos(t)
	bad := filepath.Join(t.TempDir(), "notes.jpg")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	in := []string{paths[0], bad, paths[1]}
	got, err := m.Classify(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	// e^3, e^2, e^1 and 997 classes of e^0.
	sum := math.Exp(3) + math.Exp(2) + math.Exp(1) + 997
	want := []classify.Prediction{
		{Class: classify.Class{ID: "n02129604", Name: "tiger"}, Index: 292, Prob: float32(math.Exp(3) / sum)},
		{Class: classify.Class{ID: "n01491361", Name: "tiger shark"}, Index: 3, Prob: float32(math.Exp(2) / sum)},
		{Class: classify.Class{ID: "n02123045", Name: "tabby"}, Index: 281, Prob: float32(math.Exp(1) / sum)},
	}
	if len(got) != 3 {
		t.Fatalf("%d results for 3 files", len(got))
	}
	for i, c := range got {
		if c.Path != in[i] || c.Source != model.LabelsImageNet || !c.Random {
			t.Errorf("result %d: %s from %q (random %t), want %s from imagenet, random", i, c.Path, c.Source, c.Random, in[i])
		}
		if i == 1 {
			if c.Err == nil || c.Top != nil {
				t.Errorf("a text file classified: %+v", c)
			}
			continue
		}
		if c.Err != nil || len(c.Top) != 3 {
			t.Fatalf("%s: %+v", c.Path, c)
		}
		for r, p := range c.Top {
			if p.Class != want[r].Class || p.Index != want[r].Index || math.Abs(float64(p.Prob-want[r].Prob)) > 1e-6 {
				t.Errorf("%s rank %d: %+v, want %+v", filepath.Base(c.Path), r+1, p, want[r])
			}
		}
	}
	five, err := m.Classify(context.Background(), paths[:1], &ClassifyOptions{Top: 5})
	if err != nil || len(five[0].Top) != 5 || five[0].Top[3].Index != 0 || five[0].Top[4].Index != 1 {
		t.Errorf("top 5: %+v, %v; want ties after the third broken by index (tench, goldfish)", five, err)
	}
}

func TestModel_ClassifyWithoutClassifier(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	m, err := LoadModel(context.Background(), &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	paths, _ := samplePhotos(t)
	if _, err := m.Classify(context.Background(), paths[:1], nil); !errors.Is(err, ErrNoClassifier) || !strings.Contains(err.Error(), "vgg16-random") {
		t.Fatalf("classify with vgg16-random: %v, want ErrNoClassifier naming the model", err)
	}
}

// A head classifies on embeddings; one trained on another model is
// refused before anything runs.
func TestModel_ClassifyWithHead(t *testing.T) {
	openRuntime(t)
	m := tinyClassifier(t, t.TempDir(), "tiny-bias", true)
	paths, _ := samplePhotos(t)
	emb, err := m.Embed(context.Background(), paths[:2])
	if err != nil || emb[0].Err != nil || emb[1].Err != nil {
		t.Fatal(err, emb[0].Err, emb[1].Err)
	}
	// Each class's weights are one photo's embedding: each photo is its
	// own class.
	h := &classify.Head{
		Version: classify.HeadVersion, Model: m.Spec().Name, Pooling: string(m.Pooling()), Fingerprint: m.Fingerprint(),
		Dim: len(emb[0].Vector), Classes: []classify.Class{{ID: "first", Name: "first"}, {ID: "second", Name: "second"}},
		W: slices.Concat(emb[0].Vector, emb[1].Vector), B: []float32{0, 0},
	}
	got, err := m.Classify(context.Background(), paths[:2], &ClassifyOptions{Head: h, Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"first", "second"} {
		p, _ := h.Predict(emb[i].Vector)
		if got[i].Source != HeadSource || got[i].Top[0].ID != id || got[i].Top[0].Prob != max(p[0], p[1]) {
			t.Errorf("%s: %+v, want %s with p %v", paths[i], got[i], id, p)
		}
	}
	h.Fingerprint = "another"
	if _, err := m.Classify(context.Background(), paths[:1], &ClassifyOptions{Head: h}); !errors.Is(err, ErrHeadMismatch) {
		t.Errorf("a head of another model: %v, want ErrHeadMismatch", err)
	}
}

// index stores each item's top 5 ImageNet classes, the same as Classify
// gives; query --label keeps exactly the items with that label; stats
// counts the best labels.
func TestEngine_LabelsIndexQueryStats(t *testing.T) {
	openRuntime(t)
	dir := t.TempDir()
	m := tinyClassifier(t, dir, "tiny-dense", false)
	photos := copyPhotos(t)
	e, err := Open(context.Background(), &Options{DB: filepath.Join(t.TempDir(), "s.db"), Model: m, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.Index(ctx, []string{photos}, nil); err != nil {
		t.Fatal(err)
	}
	var items []Item
	e.ForEachItem(func(it Item) error { items = append(items, it); return nil })
	var paths []string
	for _, it := range items {
		paths = append(paths, it.Path)
	}
	want, err := m.Classify(ctx, paths, &ClassifyOptions{Top: LabelTop})
	if err != nil {
		t.Fatal(err)
	}
	best := map[string]int{} // best class id → items
	for i, it := range items {
		if len(it.Labels) != 1 || it.Labels[0].Source != model.LabelsImageNet || len(it.Labels[0].Top) != LabelTop {
			t.Fatalf("%s: labels %+v, want one imagenet set of 5", it.Path, it.Labels)
		}
		for r, l := range it.Labels[0].Top {
			w := want[i].Top[r]
			if l.ID != w.ID || l.Name != w.Name || math.Abs(float64(l.Prob-w.Prob)) > 1e-5 {
				t.Errorf("%s rank %d: stored %+v, classify says %+v", filepath.Base(it.Path), r+1, l, w)
			}
		}
		best[it.Labels[0].Top[0].ID]++
	}
	if len(best) < 2 {
		t.Fatalf("every photo has the same best class %v: the test cannot tell a filter from none", best)
	}
	// The label of the first photo, by WordNet id and by name (upper case).
	label := items[0].Labels[0].Top[0]
	for _, q := range []string{label.ID, strings.ToUpper(label.Name)} {
		res, err := e.Query(ctx, paths[0], &QueryOptions{K: 100, Label: q, MinScore: -2})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res {
			got = append(got, r.Path)
		}
		var exp []string
		for i, it := range items {
			if i == 0 {
				continue // the query itself
			}
			for _, l := range it.Labels[0].Top {
				if l.ID == label.ID {
					exp = append(exp, it.Path)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("query --label %q: %d results, want the %d items with it", q, len(got), len(exp))
		}
		if len(exp) == len(items)-1 {
			t.Errorf("label %s is on every item: the filter was not tested", q)
		}
	}
	if res, err := e.Query(ctx, paths[0], &QueryOptions{K: 10, Label: "no such class"}); err != nil || len(res) != 0 {
		t.Errorf("an unknown label: %d results, %v", len(res), err)
	}
	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, c := range st.Labels {
		if c.Source != model.LabelsImageNet || c.Items != best[c.ID] || i > 0 && c.Items > st.Labels[i-1].Items {
			t.Errorf("stats label %d: %+v, want %d items, most first", i, c, best[c.ID])
		}
		total += c.Items
	}
	if len(st.Labels) > TopLabels || len(best) <= TopLabels && total != len(items) {
		t.Errorf("stats lists %d labels covering %d items, of %d classes over %d items", len(st.Labels), total, len(best), len(items))
	}
}

// index --head stores the head's classes next to the model's, as the
// source "head"; query --label finds items by either; a head of another
// model is refused before anything is embedded.
func TestEngine_IndexWithHead(t *testing.T) {
	openRuntime(t)
	m := tinyClassifier(t, t.TempDir(), "tiny-dense", false)
	photos := copyPhotos(t)
	ctx := context.Background()
	paths := []string{filepath.Join(photos, "ladybird.jpg"), filepath.Join(photos, "rocket.jpg")}
	emb, err := m.Embed(ctx, paths)
	if err != nil || emb[0].Err != nil || emb[1].Err != nil {
		t.Fatal(err)
	}
	h := &classify.Head{
		Version: classify.HeadVersion, Model: m.Spec().Name, Pooling: string(m.Pooling()), Fingerprint: m.Fingerprint(),
		Dim: len(emb[0].Vector), Classes: []classify.Class{{ID: "bugs", Name: "Bugs"}, {ID: "rockets", Name: "Rockets"}},
		W: slices.Concat(emb[0].Vector, emb[1].Vector), B: []float32{0, 0},
	}
	e, err := Open(ctx, &Options{DB: filepath.Join(t.TempDir(), "s.db"), Model: m, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	other := *h
	other.Fingerprint = "another"
	if sum, err := e.Index(ctx, []string{photos}, &IndexOptions{Head: &other}); !errors.Is(err, ErrHeadMismatch) || sum.Added != 0 {
		t.Fatalf("index with another model's head: %+v, %v", sum, err)
	}
	first, err := e.Index(ctx, []string{photos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Indexed before the head: the head labels every photo from its
	// stored vector, embedding none; once done, a rerun writes nothing.
	sum, err := e.Index(ctx, []string{photos}, &IndexOptions{Head: h})
	if err != nil || sum.Relabelled != first.Added || sum.Unchanged != first.Added || sum.Added+sum.Updated != 0 {
		t.Fatalf("index --head after index: %+v, %v; want all %d unchanged and relabelled", sum, err, first.Added)
	}
	if sum, err := e.Index(ctx, []string{photos}, &IndexOptions{Head: h}); err != nil || sum.Relabelled != 0 {
		t.Fatalf("index --head again: %+v, %v; want nothing relabelled", sum, err)
	}
	bugs, total := 0, 0
	e.ForEachItem(func(it Item) error {
		total++
		s, ok := it.Set(HeadSource)
		if _, has := it.Set(model.LabelsImageNet); !has || !ok || len(s.Top) != 1 || len(it.Labels) != 2 {
			t.Errorf("%s: labels %+v, want an imagenet set and a head set of 1 (half the head's 2 classes)", filepath.Base(it.Path), it.Labels)
			return nil
		}
		if s.Top[0].ID == "bugs" {
			bugs++
		}
		for i, p := range paths {
			if it.Path == p && s.Top[0].ID != h.Classes[i].ID {
				t.Errorf("%s labelled %s by the head trained on it", filepath.Base(p), s.Top[0].ID)
			}
		}
		return nil
	})
	res, err := e.Query(ctx, paths[1], &QueryOptions{K: 100, Label: "bugs", MinScore: -2})
	// The query (a rocket) is not a bug, so all of them are results.
	if err != nil || len(res) != bugs || bugs == 0 || bugs == total {
		t.Errorf("query --label bugs: %d results, %v; %d items have it", len(res), err, bugs)
	}
	for _, r := range res {
		if s, _ := r.Set(HeadSource); s.Top[0].ID != "bugs" {
			t.Errorf("%s has no bugs label: %+v", r.Path, s)
		}
	}
}

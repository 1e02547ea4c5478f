package simsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/evaluate"
	"github.com/simsearch/simsearch/model"
)

// sampleList is the evaluation list of the sample photos, each grouped
// with its original, that the README's eval figures come from.
var sampleList = filepath.Join("testdata", "eval", "sample-groups.tsv")

// sampleSet is the sample photos grouped with their generated copies, as
// sampleList has them.
func sampleSet(t testing.TB) []LabelledPath {
	t.Helper()
	set, err := ReadGroupsFile(sampleList)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestReadGroups_SampleList checks the committed list against the sample
// photos: every photo once, in samplePhotos' order, grouped with exactly
// its original and that original's other copies.
func TestReadGroups_SampleList(t *testing.T) {
	paths, original := samplePhotos(t)
	set := sampleSet(t)
	if len(set) != len(paths) {
		t.Fatalf("%s lists %d photos, testdata/photos has %d", sampleList, len(set), len(paths))
	}
	for i, lp := range set {
		if lp.Path != paths[i] {
			t.Fatalf("%s: photo %d is %s, want %s", sampleList, i+1, lp.Path, paths[i])
		}
		for j := range set {
			if same, want := lp.Group == set[j].Group, copyGroup(paths[i], original) == copyGroup(paths[j], original); same != want {
				t.Errorf("%s: %s and %s in one group: %v, want %v", sampleList, lp.Path, set[j].Path, same, want)
			}
		}
	}
}

// calibrationFigures are what TestCalibration printed before it used
// evaluate.Evaluate, computed the way it computed them, pair by pair:
// the lowest copy pair, the highest pair of different photos, the five
// lowest copy pairs, and PRF at each threshold.
type calibrationFigures struct {
	minSame, maxDiff     float32
	worstSame, worstDiff evaluate.Pair
	lowest               []evaluate.Pair
	prf                  map[float32][3]float64
}

func oldCalibration(pairs []evaluate.Pair, ths []float32) calibrationFigures {
	f := calibrationFigures{minSame: 2, maxDiff: -1, prf: map[float32][3]float64{}}
	for _, x := range pairs {
		if x.Same && x.Score < f.minSame {
			f.minSame, f.worstSame = x.Score, x
		}
		if !x.Same && x.Score > f.maxDiff {
			f.maxDiff, f.worstDiff = x.Score, x
		}
	}
	for _, th := range ths {
		p, r, f1 := evaluate.PRF(pairs, evaluate.AtLeast(th))
		f.prf[th] = [3]float64{p, r, f1}
	}
	sorted := slices.Clone(pairs)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Score < sorted[j].Score })
	for _, x := range sorted {
		if x.Same && len(f.lowest) < 5 {
			f.lowest = append(f.lowest, x)
		}
	}
	return f
}

// TestEvaluate_ReproducesCalibration runs Model.Evaluate, what simsearch
// eval calls, on sampleList for every pooling and compares it with
// the figures TestCalibration printed, computed from the network's
// feature maps pooled by the test and scored pair by pair. With -short,
// only the model's default pooling.
func TestEvaluate_ReproducesCalibration(t *testing.T) {
	rt := openRuntime(t)
	spec := randomModel(t, rt)
	paths, original := samplePhotos(t)
	maps := featureMaps(t, rt, spec, paths)
	set := sampleSet(t)
	ths := append(slices.Clone(calibrationThresholds), spec.Threshold)
	ctx := context.Background()
	const tol = 1e-4 // the extractor may batch differently from featureMaps
	poolings := []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC}
	if testing.Short() {
		poolings = []model.Pooling{spec.Pooling} // one embedding pass, not four
	}
	for _, p := range poolings {
		t.Run(string(p), func(t *testing.T) {
			pairs := pairScores(t, spec, p, paths, original, maps)
			want := oldCalibration(pairs, ths)
			// featureMaps ran ONNX Runtime: so must Evaluate, whose
			// default engine may be oneDNN bf16 on this CPU.
			m, err := LoadModel(ctx, &ModelOptions{Dir: testModels.dir, Name: "vgg16-random", Pooling: p, Engine: "ort"})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			r, err := m.Evaluate(ctx, set, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Model != "vgg16-random" || r.Pooling != p || !r.Random || r.DefaultThreshold != spec.Threshold {
				t.Errorf("model %s/%s random %v threshold %v, want vgg16-random/%s random at %v", r.Model, r.Pooling, r.Random, r.DefaultThreshold, p, spec.Threshold)
			}
			if r.Photos != len(paths) || len(r.Skipped) != 0 || r.Groups != len(paths)-len(original) {
				t.Errorf("%d photos in %d groups, skipped %v; want %d in %d, none skipped", r.Photos, r.Groups, r.Skipped, len(paths), len(paths)-len(original))
			}
			var nTrue int
			for _, x := range pairs {
				if x.Same {
					nTrue++
				}
			}
			if r.TruePairs != nTrue || r.OtherPairs != len(pairs)-nTrue {
				t.Errorf("%d true %d other pairs, want %d and %d", r.TruePairs, r.OtherPairs, nTrue, len(pairs)-nTrue)
			}
			samePair := func(got ScoredPair, want evaluate.Pair) bool {
				return math.Abs(float64(got.Score-want.Score)) <= tol &&
					got.A == paths[want.A] && got.B == paths[want.B]
			}
			if !samePair(r.LowestTrue[0], want.worstSame) {
				t.Errorf("lowest copy pair %v, TestCalibration's %.4f %s ~ %s", r.LowestTrue[0], want.minSame, paths[want.worstSame.A], paths[want.worstSame.B])
			}
			if !samePair(r.HighestOther[0], want.worstDiff) {
				t.Errorf("highest other pair %v, TestCalibration's %.4f %s ~ %s", r.HighestOther[0], want.maxDiff, paths[want.worstDiff.A], paths[want.worstDiff.B])
			}
			if d := float64(r.Margin - (want.minSame - want.maxDiff)); math.Abs(d) > 2*tol {
				t.Errorf("margin %v, TestCalibration's %v", r.Margin, want.minSame-want.maxDiff)
			}
			for i, x := range want.lowest {
				if i >= len(r.LowestTrue) || math.Abs(float64(r.LowestTrue[i].Score-x.Score)) > tol {
					t.Errorf("low copy pairs %v, TestCalibration's %v", r.LowestTrue, want.lowest)
					break
				}
			}
			// The table's thresholds are points of the sweep; the default
			// is reported on its own.
			for _, th := range calibrationThresholds {
				i := slices.IndexFunc(r.Sweep, func(x ScorePoint) bool { return x.Threshold == th })
				if i < 0 {
					t.Errorf("sweep from %v to %v lacks %v", r.Sweep[0].Threshold, r.Sweep[len(r.Sweep)-1].Threshold, th)
					continue
				}
				checkPoint(t, r.Sweep[i], want.prf[th], pairs, tol)
			}
			checkPoint(t, r.Default, want.prf[spec.Threshold], pairs, tol)
			t.Logf("eval %s: mAP %.3f P@1 %.3f R@5 %.3f; pairs: lowest copy %.3f, highest other %.3f, margin %+.3f, best F1 %.3f at %.2f, default %.2f: P %.3f R %.3f",
				p, r.MAP, r.AtK[0].Precision, r.AtK[1].Recall, r.LowestTrue[0].Score, r.HighestOther[0].Score, r.Margin, r.Best.F1, r.Best.Threshold, r.DefaultThreshold, r.Default.Precision, r.Default.Recall)
		})
	}
}

// checkPoint compares an eval point with TestCalibration's PRF, unless a
// pair scores so close to the threshold that batching may move it across.
func checkPoint(t *testing.T, got ScorePoint, want [3]float64, pairs []evaluate.Pair, tol float32) {
	t.Helper()
	for _, x := range pairs {
		if x.Score > got.Threshold-tol && x.Score < got.Threshold+tol {
			t.Logf("threshold %v: a pair scores %v, too close to compare", got.Threshold, x.Score)
			return
		}
	}
	if [3]float64{got.Precision, got.Recall, got.F1} != want {
		t.Errorf("threshold %.2f: precision %.3f recall %.3f F1 %.3f, TestCalibration's %.3f %.3f %.3f",
			got.Threshold, got.Precision, got.Recall, got.F1, want[0], want[1], want[2])
	}
}

// TestEngine_Evaluate_StoredVectors evaluates indexed photos on an engine
// whose model is not installed: the stored vectors are enough, and they
// give what extracting gives, where a file that is not an image is
// skipped. A photo the engine must extract fails the run with the
// model's error.
func TestEngine_Evaluate_StoredVectors(t *testing.T) {
	ctx := context.Background()
	set := sampleSet(t)
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	var paths []string
	for _, lp := range set {
		paths = append(paths, lp.Path)
	}
	if _, err := e.Index(ctx, paths, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Extracted, with a file that is not an image: it is skipped and the
	// rest measured.
	notes := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(notes, []byte("not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	withNotes := append(slices.Clone(set), LabelledPath{Group: "notes", Path: notes})
	m, err := LoadModel(ctx, &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := m.Evaluate(ctx, withNotes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Skipped) != 1 || want.Skipped[0].Path != notes || want.Skipped[0].Reason == "" || strings.Contains(want.Skipped[0].Reason, "\n") {
		t.Errorf("skipped %v, want notes.jpg with a one-line reason", want.Skipped)
	}
	if want.Photos != len(set) {
		t.Errorf("with a skipped file: %d photos, want %d", want.Photos, len(set))
	}

	noModel, err := Open(ctx, &Options{DB: db, ReadOnly: true, ModelOptions: &ModelOptions{Dir: t.TempDir(), Name: "vgg16-random"}})
	if err != nil {
		t.Fatal(err)
	}
	defer noModel.Close()
	got, err := noModel.Evaluate(ctx, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "vgg16-random" || got.Pooling != model.RMAC || !got.Random || got.DefaultThreshold != want.DefaultThreshold {
		t.Errorf("model %s/%s random %v threshold %v, want %s/%s random at %v", got.Model, got.Pooling, got.Random, got.DefaultThreshold, want.Model, want.Pooling, want.DefaultThreshold)
	}
	const tol = 1e-4
	if math.Abs(got.MAP-want.MAP) > tol || math.Abs(float64(got.Margin-want.Margin)) > tol || got.Best.Threshold != want.Best.Threshold ||
		got.TruePairs != want.TruePairs || got.Default != want.Default {
		t.Errorf("from stored vectors: mAP %v margin %v best %+v default %+v; extracted: %v %v %+v %+v",
			got.MAP, got.Margin, got.Best, got.Default, want.MAP, want.Margin, want.Best, want.Default)
	}

	if _, err := noModel.Evaluate(ctx, withNotes, nil); !errors.Is(err, ErrModelNotInstalled) {
		t.Errorf("a photo to extract without the model: %v, want ErrModelNotInstalled", err)
	}
}

func TestEvalReport_WritePlot(t *testing.T) {
	items := []evaluate.Item{
		{Name: "a1", Group: "a", Vector: []float32{1, 0}}, {Name: "a2", Group: "a", Vector: []float32{0.8, 0.6}},
		{Name: "b1", Group: "b", Vector: []float32{0, 1}}, {Name: "b2", Group: "b", Vector: []float32{0.6, 0.8}},
	}
	m, err := evaluate.Evaluate(items, &evaluate.Options{Thresholds: []float32{0.72}})
	if err != nil {
		t.Fatal(err)
	}
	r := &EvalReport{Model: "vgg16-random", Pooling: model.RMAC, Random: true, DefaultThreshold: 0.72, Default: m.At[0], EvalMetrics: m}
	var b bytes.Buffer
	if err := r.WritePlot(&b, "png"); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&b); err != nil {
		t.Errorf("PNG: %v", err)
	}
	b.Reset()
	if err := r.WritePlot(&b, "svg"); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	d := xml.NewDecoder(&b)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG: %v", err)
		}
		if c, ok := tok.(xml.CharData); ok {
			text.Write(c)
		}
	}
	if s := text.String(); !strings.Contains(s, "vgg16-random/rmac (random weights)") || !strings.Contains(s, "model default 0.72") {
		t.Errorf("SVG text %q lacks the model, its random weights or the default threshold", s)
	}
	// The report is JSON with the measures at its top level.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model", "random_weights", "default", "map", "at_k", "margin", "best", "sweep", "histogram"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, js)
		}
	}
}

func TestReadGroups(t *testing.T) {
	in := "# group\tpath\n\ncats\tcat.jpg\r\ncats\t/abs/cat 2.jpg\n  # indented comment\n dogs \tsub/dog.jpg\n"
	got, err := ReadGroups(strings.NewReader(in), "set.tsv", "base")
	if err != nil {
		t.Fatal(err)
	}
	want := []LabelledPath{{"cats", filepath.Join("base", "cat.jpg")}, {"cats", "/abs/cat 2.jpg"}, {"dogs", filepath.Join("base", "sub", "dog.jpg")}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"no tab", "cats\tcat.jpg\ncats cat2.jpg\n", "set.tsv:2: want group<TAB>path, got cats cat2.jpg"},
		{"no group", "\tcat.jpg\n", "set.tsv:1: want group<TAB>path"},
		{"no path", "# x\ncats\t\n", "set.tsv:2: want group<TAB>path"},
		{"twice", "a\tx.jpg\nb\ty.jpg\nb\t./x.jpg\n", "set.tsv:3: base/x.jpg is already on line 1"},
		{"empty", "# nothing\n\n", "set.tsv: no group<TAB>path lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadGroups(strings.NewReader(tc.in), "set.tsv", "base")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line with %q", err, tc.want)
			}
		})
	}
}

func TestClassFolders(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cats/b.jpg", "cats/a.jpg", "cats/more/c.jpg", "cats/.hidden.jpg", "dogs/d.jpg", "top.jpg", ".trash/x.jpg"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ClassFolders(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := func(f string) string { return filepath.Join(dir, f) }
	want := []LabelledPath{{"cats", in("cats/a.jpg")}, {"cats", in("cats/b.jpg")}, {"cats", in("cats/more/c.jpg")}, {"dogs", in("dogs/d.jpg")}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ClassFolders(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no files in sub-folders") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestValidateSet(t *testing.T) {
	for _, tc := range []struct {
		set  []LabelledPath
		want string
	}{
		{nil, "no photos"},
		{[]LabelledPath{{"a", "x.jpg"}, {"", "y.jpg"}}, "photo 2 has an empty group or path"},
		{[]LabelledPath{{"a", "x.jpg"}, {"b", "./x.jpg"}}, "x.jpg is listed twice (photos 1 and 2)"},
	} {
		if err := ValidateSet(tc.set); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
	}
}

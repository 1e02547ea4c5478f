package simsearch

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/internal/evaluate"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// samplePhotos lists testdata/photos and, for each generated variant, its
// original (from variants.csv).
func samplePhotos(t testing.TB) (paths []string, original map[string]string) {
	t.Helper()
	dir := filepath.Join("testdata", "photos")
	f, err := os.Open(filepath.Join(dir, "variants.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	original = map[string]string{}
	for _, r := range rows[1:] {
		original[filepath.Join(dir, r[0])] = filepath.Join(dir, r[1])
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".md", ".sh", ".csv":
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	return paths, original
}

// testModels prepares vgg16-random once per test binary.
var testModels = struct {
	once sync.Once
	dir  string
	spec model.Spec
	err  error
}{}

func randomModel(t testing.TB, rt *extractor.Runtime) model.Spec {
	t.Helper()
	testModels.once.Do(func() {
		dir, err := os.MkdirTemp("", "simsearch-models-")
		if err != nil {
			testModels.err = err
			return
		}
		testModels.dir = dir
		var m *Model
		m, testModels.err = PrepareModel(context.Background(), &ModelOptions{Dir: dir, Name: "vgg16-random"})
		if testModels.err == nil {
			testModels.spec = m.Spec()
			testModels.err = m.Close()
		}
	})
	if testModels.err != nil {
		t.Fatal(testModels.err)
	}
	return testModels.spec
}

func openRuntime(t testing.TB) *extractor.Runtime {
	t.Helper()
	rt, err := extractor.OpenRuntime(nil)
	if err != nil {
		if os.Getenv(extractor.LibraryEnv) == "" {
			t.Skipf("ONNX Runtime not available (run make): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// featureMaps runs the network once over the sample photos.
func featureMaps(t testing.TB, rt *extractor.Runtime, spec model.Spec, paths []string) [][]float32 {
	t.Helper()
	ex, err := extractor.New(rt, spec, &extractor.Options{FeatureMaps: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	maps := make([][]float32, len(paths))
	err = ex.Files(context.Background(), paths, func(r extractor.Result) error {
		if r.Err != nil {
			return fmt.Errorf("%s: %w", r.Path, r.Err)
		}
		maps[r.Seq] = r.Vector
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return maps
}

// pooled pools the maps with p and centres them with the model's centre,
// as the extractor does when it embeds.
func pooled(t testing.TB, spec model.Spec, p model.Pooling, maps [][]float32) [][]float32 {
	t.Helper()
	vecs := make([][]float32, len(maps))
	for i, m := range maps {
		v, err := extractor.Pool(m, spec.Channels, spec.GridH, spec.GridW, p)
		if err != nil {
			t.Fatal(err)
		}
		extractor.Center(v, spec.Center[p])
		vecs[i] = v
	}
	return vecs
}

// copyGroup is the group of a sample photo: its original's path, so that
// a photo, its generated copies and nothing else share one.
func copyGroup(path string, original map[string]string) string {
	if o, ok := original[path]; ok {
		return o
	}
	return path
}

// pairScores scores every pair of the pooled maps: true when one is a
// generated copy of the other, or both are copies of one original.
func pairScores(t testing.TB, spec model.Spec, p model.Pooling, paths []string, original map[string]string, maps [][]float32) []evaluate.Pair {
	t.Helper()
	return evaluate.Pairs(pooled(t, spec, p, maps), func(i, j int) bool {
		return copyGroup(paths[i], original) == copyGroup(paths[j], original)
	})
}

// calibrationThresholds are the rows of TestCalibration's table.
var calibrationThresholds = []float32{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}

// calibrationReport evaluates the pooled maps as simsearch eval does, each
// photo named by its file name and grouped with its copies; At holds
// calibrationThresholds, then the model's threshold.
func calibrationReport(t testing.TB, spec model.Spec, p model.Pooling, paths []string, original map[string]string, maps [][]float32) evaluate.Report {
	t.Helper()
	vecs := pooled(t, spec, p, maps)
	items := make([]evaluate.Item, len(paths))
	for i, path := range paths {
		items[i] = evaluate.Item{Name: filepath.Base(path), Group: copyGroup(path, original), Vector: vecs[i]}
	}
	r, err := evaluate.Evaluate(items, &evaluate.Options{Thresholds: append(slices.Clone(calibrationThresholds), spec.Threshold)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCalibration prints pair precision/recall/F1 for every pooling across
// thresholds on the sample photos and their generated copies, and checks
// that the catalog's default pooling and threshold separate copies from
// different photos. Run with -v to see the table. The figures come from
// evaluate.Evaluate, which simsearch eval reports.
func TestCalibration(t *testing.T) {
	rt := openRuntime(t)
	spec := randomModel(t, rt)
	paths, original := samplePhotos(t)
	maps := featureMaps(t, rt, spec, paths)
	for _, p := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
		r := calibrationReport(t, spec, p, paths, original, maps)
		worstSame, worstDiff := r.LowestTrue[0], r.HighestOther[0]
		minSame, maxDiff := worstSame.Score, worstDiff.Score
		var b strings.Builder
		fmt.Fprintf(&b, "pooling %s: copies ≥ %.3f (lowest %s ~ %s), different ≤ %.3f (highest %s ~ %s)\n",
			p, minSame, worstSame.A, worstSame.B, maxDiff, worstDiff.A, worstDiff.B)
		for i := range calibrationThresholds {
			x := r.At[i]
			fmt.Fprintf(&b, "  threshold %.2f: precision %.3f recall %.3f F1 %.3f\n", x.Threshold, x.Precision, x.Recall, x.F1)
		}
		for _, x := range r.LowestTrue {
			fmt.Fprintf(&b, "  low copy pair %.3f %s ~ %s\n", x.Score, x.A, x.B)
		}
		fmt.Fprintf(&b, "  mAP %.3f, P@1 %.3f, margin %+.3f, best F1 %.3f at %.2f\n", r.MAP, r.AtK[0].Precision, r.Margin, r.Best.F1, r.Best.Threshold)
		t.Log(b.String())
		if p == spec.Pooling {
			// The default must never pair different photos and must find
			// every copy.
			def := r.At[len(calibrationThresholds)]
			if maxDiff >= spec.Threshold {
				t.Errorf("default %s/%.2f: different photos %s ~ %s score %.3f, at or above the threshold", p, spec.Threshold, worstDiff.A, worstDiff.B, maxDiff)
			}
			if def.Precision < 1 || def.Recall < 1 {
				t.Errorf("default %s/%.2f: pair precision %.3f recall %.3f, want 1 and 1", p, spec.Threshold, def.Precision, def.Recall)
			}
			if minSame < spec.Threshold {
				t.Errorf("default %s/%.2f: copy pair %s ~ %s scores %.3f, below the threshold", p, spec.Threshold, worstSame.A, worstSame.B, minSame)
			}
		}
	}
}

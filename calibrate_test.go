package simsearch

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

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

type pairScore struct {
	a, b  string
	score float32
	same  bool // a is a generated copy of b, or both copies of one original
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

// pairScores pools the maps with p, centres them with the model's centre
// and scores every pair.
func pairScores(t testing.TB, spec model.Spec, p model.Pooling, paths []string, original map[string]string, maps [][]float32) []pairScore {
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
	root := func(p string) string {
		if o, ok := original[p]; ok {
			return o
		}
		return p
	}
	var out []pairScore
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			var s float32
			for k := range vecs[i] {
				s += vecs[i][k] * vecs[j][k]
			}
			out = append(out, pairScore{a: paths[i], b: paths[j], score: s, same: root(paths[i]) == root(paths[j])})
		}
	}
	return out
}

// prf computes pair precision, recall and F1 at threshold th.
func prf(pairs []pairScore, th float32) (p, r, f1 float64) {
	var tp, fp, fn float64
	for _, x := range pairs {
		switch {
		case x.score >= th && x.same:
			tp++
		case x.score >= th:
			fp++
		case x.same:
			fn++
		}
	}
	if tp+fp > 0 {
		p = tp / (tp + fp)
	}
	if tp+fn > 0 {
		r = tp / (tp + fn)
	}
	if p+r > 0 {
		f1 = 2 * p * r / (p + r)
	}
	return
}

// TestCalibration prints pair precision/recall/F1 for every pooling across
// thresholds on the sample photos and their generated copies, and checks
// that the catalog's default pooling and threshold separate copies from
// different photos. Run with -v to see the table.
func TestCalibration(t *testing.T) {
	rt := openRuntime(t)
	spec := randomModel(t, rt)
	paths, original := samplePhotos(t)
	maps := featureMaps(t, rt, spec, paths)
	for _, p := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
		pairs := pairScores(t, spec, p, paths, original, maps)
		var maxDiff, minSame float32 = -1, 2
		var worstDiff, worstSame pairScore
		for _, x := range pairs {
			if x.same && x.score < minSame {
				minSame, worstSame = x.score, x
			}
			if !x.same && x.score > maxDiff {
				maxDiff, worstDiff = x.score, x
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "pooling %s: copies ≥ %.3f (lowest %s ~ %s), different ≤ %.3f (highest %s ~ %s)\n",
			p, minSame, filepath.Base(worstSame.a), filepath.Base(worstSame.b), maxDiff, filepath.Base(worstDiff.a), filepath.Base(worstDiff.b))
		ths := []float32{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}
		for _, th := range ths {
			pr, rc, f1 := prf(pairs, th)
			fmt.Fprintf(&b, "  threshold %.2f: precision %.3f recall %.3f F1 %.3f\n", th, pr, rc, f1)
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].score < pairs[j].score })
		n := 0
		for _, x := range pairs {
			if x.same && n < 5 {
				fmt.Fprintf(&b, "  low copy pair %.3f %s ~ %s\n", x.score, filepath.Base(x.a), filepath.Base(x.b))
				n++
			}
		}
		t.Log(b.String())
		if p == spec.Pooling {
			// The default must never pair different photos and must find
			// every copy.
			pr, rc, _ := prf(pairs, spec.Threshold)
			if maxDiff >= spec.Threshold {
				t.Errorf("default %s/%.2f: different photos %s ~ %s score %.3f, at or above the threshold", p, spec.Threshold, worstDiff.a, worstDiff.b, maxDiff)
			}
			if pr < 1 || rc < 1 {
				t.Errorf("default %s/%.2f: pair precision %.3f recall %.3f, want 1 and 1", p, spec.Threshold, pr, rc)
			}
			if minSame < spec.Threshold {
				t.Errorf("default %s/%.2f: copy pair %s ~ %s scores %.3f, below the threshold", p, spec.Threshold, worstSame.a, worstSame.b, minSame)
			}
		}
	}
}

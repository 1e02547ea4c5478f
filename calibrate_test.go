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

// pairScores pools the maps with p, centres them with the model's centre
// and scores every pair of paths: true when one is a generated copy of
// the other, or both are copies of one original.
func pairScores(t testing.TB, spec model.Spec, p model.Pooling, paths []string, original map[string]string, maps [][]float32) []evaluate.Pair {
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
	return evaluate.Pairs(vecs, func(i, j int) bool { return root(paths[i]) == root(paths[j]) })
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
		var worstDiff, worstSame evaluate.Pair
		for _, x := range pairs {
			if x.Same && x.Score < minSame {
				minSame, worstSame = x.Score, x
			}
			if !x.Same && x.Score > maxDiff {
				maxDiff, worstDiff = x.Score, x
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "pooling %s: copies ≥ %.3f (lowest %s ~ %s), different ≤ %.3f (highest %s ~ %s)\n",
			p, minSame, filepath.Base(paths[worstSame.A]), filepath.Base(paths[worstSame.B]), maxDiff, filepath.Base(paths[worstDiff.A]), filepath.Base(paths[worstDiff.B]))
		ths := []float32{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}
		for _, th := range ths {
			pr, rc, f1 := evaluate.PRF(pairs, evaluate.AtLeast(th))
			fmt.Fprintf(&b, "  threshold %.2f: precision %.3f recall %.3f F1 %.3f\n", th, pr, rc, f1)
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].Score < pairs[j].Score })
		n := 0
		for _, x := range pairs {
			if x.Same && n < 5 {
				fmt.Fprintf(&b, "  low copy pair %.3f %s ~ %s\n", x.Score, filepath.Base(paths[x.A]), filepath.Base(paths[x.B]))
				n++
			}
		}
		t.Log(b.String())
		if p == spec.Pooling {
			// The default must never pair different photos and must find
			// every copy.
			pr, rc, _ := evaluate.PRF(pairs, evaluate.AtLeast(spec.Threshold))
			if maxDiff >= spec.Threshold {
				t.Errorf("default %s/%.2f: different photos %s ~ %s score %.3f, at or above the threshold", p, spec.Threshold, paths[worstDiff.A], paths[worstDiff.B], maxDiff)
			}
			if pr < 1 || rc < 1 {
				t.Errorf("default %s/%.2f: pair precision %.3f recall %.3f, want 1 and 1", p, spec.Threshold, pr, rc)
			}
			if minSame < spec.Threshold {
				t.Errorf("default %s/%.2f: copy pair %s ~ %s scores %.3f, below the threshold", p, spec.Threshold, paths[worstSame.A], paths[worstSame.B], minSame)
			}
		}
	}
}

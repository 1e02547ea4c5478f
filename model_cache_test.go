package simsearch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestModel_KeepsOptimisedGraph: embedding on ONNX Runtime leaves the
// optimised graph in the models directory's cache, and a second Model (which loads it)
// gives the same vector for a photo as the first, which optimised it.
func TestModel_KeepsOptimisedGraph(t *testing.T) {
	randomModel(t, nil)
	ctx := context.Background()
	photo := "testdata/photos/cat.jpg"
	// The first Model must optimise the graph itself, whatever other
	// tests left; one writing there meanwhile just keeps no cache.
	if err := os.RemoveAll(filepath.Join(testModels.dir, "cache")); err != nil {
		t.Fatal(err)
	}
	var vecs [][]float32
	for range 2 {
		m, err := LoadModel(ctx, &ModelOptions{Dir: testModels.dir, Name: "vgg16-random", Threads: 1, Engine: "ort"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Embed(ctx, []string{photo})
		m.Close()
		if err != nil || r[0].Err != nil {
			t.Fatalf("Embed(%s): %v, %v", photo, err, r[0].Err)
		}
		vecs = append(vecs, r[0].Vector)
		files, err := filepath.Glob(filepath.Join(testModels.dir, "cache", "vgg16-random-*.onnx"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no optimised graph kept in %s/cache (%v)", testModels.dir, err)
		}
	}
	if !slices.Equal(vecs[0], vecs[1]) {
		t.Fatal("the Model that loaded the cached graph embeds the photo differently")
	}
}

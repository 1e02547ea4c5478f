package simsearch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
)

// copyPhotos copies testdata/photos into a temporary directory.
func copyPhotos(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "photos")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	paths, _ := samplePhotos(t)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openTestEngine(t *testing.T, db string) *Engine {
	t.Helper()
	rt := openRuntime(t)
	randomModel(t, rt)
	e, err := Open(context.Background(), &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEngine_CopiesFindTheirOriginal(t *testing.T) {
	photos := copyPhotos(t)
	e := openTestEngine(t, filepath.Join(t.TempDir(), "db", "s.db"))
	ctx := context.Background()
	sum, err := e.Index(ctx, []string{photos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths, original := samplePhotos(t)
	if sum.Added != len(paths) || len(sum.Skipped) != 0 {
		t.Fatalf("index added %d, skipped %v; want %d and none", sum.Added, sum.Skipped, len(paths))
	}
	for variant, orig := range original {
		q := filepath.Join(photos, filepath.Base(variant))
		want := filepath.Join(photos, filepath.Base(orig))
		m, err := e.Query(ctx, q, &QueryOptions{K: 3})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range m {
			if r.Path == q {
				t.Errorf("query %s returned itself", filepath.Base(q))
			}
			found = found || r.Path == want
		}
		if !found {
			t.Errorf("%s: original %s not in the top 3 %v", filepath.Base(q), filepath.Base(want), names(m))
		}
		// The same through exact search.
		ex, err := e.Query(ctx, q, &QueryOptions{K: 3, Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ex) != len(m) || ex[0].ID != m[0].ID {
			t.Errorf("%s: exact top %v, HNSW top %v", filepath.Base(q), names(ex), names(m))
		}
	}
}

func names(m []Match) []string {
	var s []string
	for _, r := range m {
		s = append(s, filepath.Base(r.Path))
	}
	return s
}

// An EXIF-rotated copy must embed like its upright original: the decoder
// applies the orientation before anything else sees the pixels.
func TestEngine_ExifRotatedEmbedsLikeOriginal(t *testing.T) {
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	_, original := samplePhotos(t)
	n := 0
	for v, o := range original {
		if !strings.Contains(v, "--exifrot") {
			continue
		}
		n++
		r, err := e.model.Embed(context.Background(), []string{v, o})
		if err != nil {
			t.Fatal(err)
		}
		if r[0].Err != nil || r[1].Err != nil {
			t.Fatal(r[0].Err, r[1].Err)
		}
		if r[0].Info.Width != r[1].Info.Width || r[0].Info.Height != r[1].Info.Height {
			t.Errorf("%s is %dx%d after orientation, original %dx%d", v, r[0].Info.Width, r[0].Info.Height, r[1].Info.Width, r[1].Info.Height)
		}
		var dot float32
		for i := range r[0].Vector {
			dot += r[0].Vector[i] * r[1].Vector[i]
		}
		if dot < 0.99 {
			t.Errorf("%s ~ %s: cosine %.4f, want ≥ 0.99", filepath.Base(v), filepath.Base(o), dot)
		}
	}
	if n < 3 {
		t.Fatalf("found %d exifrot variants, want 3", n)
	}
}

func TestEngine_ReopenKeepsIndex(t *testing.T) {
	photos := copyPhotos(t)
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	ctx := context.Background()
	if _, err := e.Index(ctx, []string{filepath.Join(photos, "cat.jpg"), filepath.Join(photos, "dogs.jpg")}, nil); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e2, err := Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e2.Stats()
	e2.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 2 || st.IndexLen != 2 {
		t.Fatalf("reopened: %d items, index of %d; want 2 and 2", st.Items, st.IndexLen)
	}
	// Another pooling is another model: refused.
	_, err = Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random", Pooling: "mac"}})
	if !errors.Is(err, store.ErrModelMismatch) {
		t.Fatalf("open with another pooling: %v, want ErrModelMismatch", err)
	}
}

// TestModel_EmbedWithoutDatabase: a Model embeds files and readers with no
// database, the same vector for the same photo either way, and a bad
// image is that result's error, not the call's.
func TestModel_EmbedWithoutDatabase(t *testing.T) {
	randomModel(t, nil)
	ctx := context.Background()
	m, err := LoadModel(ctx, &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	photo := "testdata/photos/cat.jpg"
	byPath, err := m.Embed(ctx, []string{photo, "testdata/README.md"})
	if err != nil {
		t.Fatal(err)
	}
	if byPath[0].Err != nil || len(byPath[0].Vector) != m.Spec().Channels {
		t.Fatalf("Embed(%s) = %d dims, %v", photo, len(byPath[0].Vector), byPath[0].Err)
	}
	if !errors.Is(byPath[1].Err, extractor.ErrNotImage) {
		t.Errorf("Embed of a text file: %v, want ErrNotImage", byPath[1].Err)
	}
	f, err := os.Open(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byReader, err := m.EmbedReader(ctx, "cat", f)
	if err != nil || byReader.Err != nil {
		t.Fatalf("EmbedReader: %v, %v", err, byReader.Err)
	}
	var dot float64
	for i, x := range byReader.Vector {
		dot += float64(x) * float64(byPath[0].Vector[i])
	}
	if dot < 0.9999 {
		t.Errorf("EmbedReader and Embed of the same photo have cosine %.6f, want 1", dot)
	}
	if _, err := LoadModel(ctx, &ModelOptions{Dir: t.TempDir(), Name: "vgg16-random"}); !errors.Is(err, ErrModelNotInstalled) {
		t.Errorf("LoadModel from an empty directory: %v, want ErrModelNotInstalled", err)
	}
}

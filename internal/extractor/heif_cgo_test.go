//go:build cgo

package extractor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
	"github.com/simsearch/simsearch/model"
)

// TestHEIF_FallbackSameTopHit embeds HEIC and AVIF copies of sample photos
// with vgg16-random, decoded once by libheif and once by the pure-Go
// fallback, and looks each up among the JPEG originals: both paths find
// the same original first, the right one.
func TestHEIF_FallbackSameTopHit(t *testing.T) {
	rt := openTestRuntime(t)
	e, _ := model.Lookup("vgg16-random")
	spec, err := model.BuildRandom(t.TempDir(), e)
	if err != nil {
		t.Fatal(err)
	}
	// Raw: the random model has no centre vector; uncentred vectors of
	// random weights are all close, but a copy is still closest.
	ex, err := New(rt, spec, &Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()

	originals := []string{"cat", "clock", "cups", "dahlia", "dogs", "fig", "jetty", "facade", "aitzgorri", "espresso"}
	dir := t.TempDir()
	var src []Source
	for _, n := range originals {
		src = append(src, FileSource(filepath.Join(photosDir, n+".jpg")))
	}
	type query struct{ name, orig string }
	var queries []query
	for _, q := range []struct{ name, orig string }{{"cat.heic", "cat"}, {"dahlia.avif", "dahlia"}, {"jetty.heic", "jetty"}, {"fig.avif", "fig"}} {
		b := imagetest.HEIFEnc(t, filepath.Join(photosDir, q.orig+".jpg"), filepath.Join(dir, q.name), "-q", "50")
		format := Sniff(b)
		for path, dec := range heifDecoders {
			queries = append(queries, query{q.name + "/" + path, q.orig})
			src = append(src, Source{Path: q.name + "/" + path, Decode: func(o *DecodeOptions) (*RGB, Info, error) {
				oo := *o
				if oo.MaxPixels <= 0 {
					oo.MaxPixels = DefaultMaxPixels
				}
				return dec(b, oo, Info{Format: format})
			}})
		}
	}
	vecs := map[string][]float32{}
	err = ex.Sources(context.Background(), src, func(r Result) error {
		if r.Err != nil {
			return r.Err
		}
		vecs[r.Path] = r.Vector
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]string{}
	for _, q := range queries {
		best, bestDot := "", float32(-2)
		for _, n := range originals {
			var dot float32
			for i, v := range vecs[filepath.Join(photosDir, n+".jpg")] {
				dot += v * vecs[q.name][i]
			}
			if dot > bestDot {
				best, bestDot = n, dot
			}
		}
		t.Logf("%s: top hit %s (cosine %.4f)", q.name, best, bestDot)
		if best != q.orig {
			t.Errorf("%s: top hit %s, want %s", q.name, best, q.orig)
		}
		top[q.name] = best
	}
	for _, q := range queries {
		base := filepath.Dir(q.name)
		if top[base+"/default"] != top[base+"/fallback"] {
			t.Errorf("%s: libheif finds %s, the fallback %s", base, top[base+"/default"], top[base+"/fallback"])
		}
	}
}

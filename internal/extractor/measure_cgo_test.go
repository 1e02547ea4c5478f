//go:build cgo

package extractor

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMeasure_DecodeScale embeds the sample photos with vgg16-random
// (fp32 feature maps) decoded as the extractor does, libjpeg's DCT
// scaling going down to the resize target (DecodeOptions.DCTMinSide),
// and with DCT scaling bounded by MinSide as before (the shorter side at
// least twice the target), and logs the cosine between the two feature
// maps of each photo. Set SIMSEARCH_MEASURE=1.
func TestMeasure_DecodeScale(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to compare decode scales")
	}
	rt, err := OpenRuntime(nil)
	if err != nil {
		t.Skip(err)
	}
	defer rt.Close()
	spec := vgg16Random(t)
	paths, _ := filepath.Glob("../../testdata/photos/*.jpg")
	vecs := func(dctMinSide int) map[string][]float32 {
		ex, err := New(rt, spec, &Options{Threads: 2, Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		ex.decode.DCTMinSide = dctMinSide
		out := map[string][]float32{}
		if err := ex.Files(context.Background(), paths, func(r Result) error {
			out[r.Path] = r.Vector
			return r.Err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := vecs(0), vecs(DCTMinSideFor(spec.Pre))
	var cs []float64
	for _, p := range paths {
		var ab, aa, bb float64
		for i := range a[p] {
			ab += float64(a[p][i]) * float64(b[p][i])
			aa += float64(a[p][i]) * float64(a[p][i])
			bb += float64(b[p][i]) * float64(b[p][i])
		}
		cs = append(cs, ab/math.Sqrt(aa*bb))
	}
	slices.Sort(cs)
	t.Logf("vgg16-random feature maps of %d sample photos, DCT scaling down to %d vs %d: cosine min %.5f, median %.5f, max %.5f",
		len(cs), DCTMinSideFor(spec.Pre), MinSideFor(spec.Pre), cs[0], cs[len(cs)/2], cs[len(cs)-1])
}

package extractor

import (
	"math"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// With Standardize, each channel has mean 0 and deviation 1, and a change
// of brightness and contrast (an affine change of the pixels, no clipping)
// gives the same tensor.
func TestTensor_StandardizeIgnoresBrightness(t *testing.T) {
	for _, layout := range []model.Layout{model.NCHW, model.NHWC} {
		pre := model.TorchPreprocess(16)
		pre.Layout = layout
		pre.Standardize = true
		img := &RGB{W: 20, H: 20, Pix: make([]uint8, 3*400)}
		bright := &RGB{W: 20, H: 20, Pix: make([]uint8, 3*400)}
		for i := range img.Pix {
			v := (i*37 + i/60*11) % 200
			img.Pix[i] = uint8(v)
			bright.Pix[i] = uint8(v*5/4 + 5) // ≤ 255: no clipping
		}
		a := make([]float32, 3*16*16)
		b := make([]float32, 3*16*16)
		if err := Tensor(a, img, pre); err != nil {
			t.Fatal(err)
		}
		if err := Tensor(b, bright, pre); err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 3; c++ {
			var sum, sq float64
			for p := 0; p < 256; p++ {
				i := c*256 + p
				if layout == model.NHWC {
					i = 3*p + c
				}
				sum += float64(a[i])
				sq += float64(a[i]) * float64(a[i])
			}
			if mean, sd := sum/256, math.Sqrt(sq/256-(sum/256)*(sum/256)); math.Abs(mean) > 1e-4 || math.Abs(sd-1) > 1e-3 {
				t.Errorf("%s channel %d: mean %g deviation %g, want 0 and 1", layout, c, mean, sd)
			}
		}
		for i := range a {
			// The 8-bit rounding of the brightened pixels leaves a little.
			if d := math.Abs(float64(a[i] - b[i])); d > 0.05 {
				t.Fatalf("%s value %d: %g vs %g after a brightness change", layout, i, a[i], b[i])
			}
		}
	}
}

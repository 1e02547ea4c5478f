package extractor

import (
	"testing"

	"github.com/simsearch/simsearch/model"
)

// TestTensor_CropKeepsCentreSquashKeepsAll resizes a 2:1 picture of four
// vertical bands, green | red | blue | green, each a quarter wide. The
// centre crop of a 2:1 image is its middle half, so it must show red then
// blue and no green; squashing keeps all four bands, a quarter each.
func TestTensor_CropKeepsCentreSquashKeepsAll(t *testing.T) {
	const w, h = 400, 200
	bands := [4][3]uint8{green, red, blue, green}
	img := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for y := range h {
		for x := range w {
			copy(img.Pix[3*(y*w+x):], bands[x*4/w][:])
		}
	}
	const n = 16
	tests := []struct {
		name string
		pre  model.Preprocess
		// want[i] is the colour of output column i; columns where two
		// bands meet (or the filter reaches past the crop) are skipped.
		want func(col int) (c [3]uint8, check bool)
	}{
		{"crop", identity(n, model.ResizeCrop, n), func(col int) ([3]uint8, bool) {
			switch {
			case col >= 1 && col <= 6:
				return red, true
			case col >= 9 && col <= 14:
				return blue, true
			}
			return [3]uint8{}, false
		}},
		// A shorter side resized past the crop keeps less than the middle
		// half: still no green.
		{"crop inside a larger resize", identity(n, model.ResizeCrop, 2*n), func(col int) ([3]uint8, bool) {
			switch {
			case col <= 6:
				return red, true
			case col >= 9:
				return blue, true
			}
			return [3]uint8{}, false
		}},
		{"squash", identity(n, model.ResizeSquash, 0), func(col int) ([3]uint8, bool) {
			if col%4 == 0 || col%4 == 3 { // next to a band edge
				return [3]uint8{}, false
			}
			return bands[col/4], true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := tensorOf(t, img, tt.pre) // NHWC, RGB, values kept as 0..255
			for y := range n {
				for x := range n {
					p := dst[3*(y*n+x) : 3*(y*n+x)+3]
					// The outermost columns may see a little green: the
					// filter reaches past the crop, as it does when
					// torchvision resizes the whole image and then crops.
					if tt.pre.Resize == model.ResizeCrop && x > 0 && x < n-1 && p[1] > 0.5 {
						t.Fatalf("output (%d,%d) = %v has green: the crop reached the outer bands", x, y, p)
					}
					want, ok := tt.want(x)
					if !ok {
						continue
					}
					for c := range 3 {
						if d := p[c] - float32(want[c]); d > 0.5 || d < -0.5 {
							t.Fatalf("output (%d,%d) = %v, want %v", x, y, p, want)
						}
					}
				}
			}
		})
	}
}

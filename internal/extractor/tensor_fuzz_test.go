package extractor

import (
	"math"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// FuzzTensor resizes arbitrary small images to arbitrary sizes under
// every resize policy, layout and channel order. The triangle and box
// filters have non-negative weights that sum to one, so with a spec that
// keeps pixel values (scale 1, mean 0, std 1) every output must lie
// between the darkest and brightest source value of its channel; any
// other spec must give finite values. A wrong tap index panics, a weight
// that is not normalised leaves the range, a division by a zero sum gives
// NaN.
func FuzzTensor(f *testing.F) {
	f.Add(uint16(64), uint16(32), uint8(16), uint8(0), uint8(0), []byte{1, 2, 3})
	f.Add(uint16(1), uint16(1), uint8(7), uint8(1), uint8(3), []byte{255})
	f.Add(uint16(300), uint16(7), uint8(5), uint8(0), uint8(9), []byte{0, 255, 7, 200})
	f.Add(uint16(2), uint16(500), uint8(31), uint8(6), uint8(2), []byte{9, 9, 250})
	f.Add(uint16(257), uint16(255), uint8(24), uint8(30), uint8(1), []byte("photo-ish bytes"))
	f.Fuzz(func(t *testing.T, w, h uint16, size, extra, flags uint8, seed []byte) {
		iw, ih, n := int(w%512)+1, int(h%512)+1, int(size%32)+1
		img := &RGB{W: iw, H: ih, Pix: make([]uint8, 3*iw*ih)}
		lo, hi := [3]float32{255, 255, 255}, [3]float32{}
		for i := range img.Pix {
			if len(seed) > 0 {
				// Mix the position in so that a short seed still gives
				// edges and not only flat colour.
				img.Pix[i] = seed[i%len(seed)] ^ byte(i/(3*iw)*int(flags))
			}
			c := i % 3
			lo[c], hi[c] = min(lo[c], float32(img.Pix[i])), max(hi[c], float32(img.Pix[i]))
		}
		pre := model.Preprocess{
			Size: n, Resize: model.ResizeCrop, ResizeShorter: n + int(extra%64),
			Layout: model.NCHW, Order: model.RGB, Scale: 1, Std: [3]float32{1, 1, 1},
		}
		if flags&1 != 0 {
			pre.Resize, pre.ResizeShorter = model.ResizeSquash, 0
		}
		if flags&2 != 0 {
			pre.Layout = model.NHWC
		}
		if flags&4 != 0 {
			pre.Order = model.BGR
			lo[0], lo[2], hi[0], hi[2] = lo[2], lo[0], hi[2], hi[0]
		}
		dst := make([]float32, 3*n*n)
		if err := Tensor(dst, img, pre); err != nil {
			t.Fatalf("%d×%d to %d (%+v): %v", iw, ih, n, pre, err)
		}
		for i, v := range dst {
			c := i / (n * n)
			if pre.Layout == model.NHWC {
				c = i % 3
			}
			if !(v >= lo[c]-1e-3 && v <= hi[c]+1e-3) {
				t.Fatalf("%d×%d to %d (%+v): value %d (channel %d) = %v outside the source's [%v, %v]",
					iw, ih, n, pre, i, c, v, lo[c], hi[c])
			}
		}
		// The real specs: finite values within the normalised range.
		for _, p := range []model.Preprocess{model.TorchPreprocess(n), model.CaffePreprocess(n)} {
			if err := Tensor(dst, img, p); err != nil {
				t.Fatal(err)
			}
			for i, v := range dst {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 256 {
					t.Fatalf("%d×%d to %d, %s %s: value %d = %v", iw, ih, n, p.Layout, p.Order, i, v)
				}
			}
		}
	})
}

package extractor

import (
	"fmt"
	"math"

	"github.com/simsearch/simsearch/model"
)

// Tensor resizes img per pre and writes the network input for one image
// into dst (3·Size·Size values) in pre's layout and channel order:
// value = (pixel·Scale − Mean[c]) / Std[c].
//
// Resampling: the region that survives the crop is first shrunk by an
// integer box filter (a plain average, exact and cheap) to at most twice
// the target size, then resampled with a separable triangle (bilinear)
// filter whose support widens with the scale, so a downscale averages
// every source pixel instead of point-sampling (which aliases).
func Tensor(dst []float32, img *RGB, pre model.Preprocess) error {
	n := pre.Size
	if n <= 0 {
		return fmt.Errorf("preprocess: size %d", n)
	}
	if len(dst) != 3*n*n {
		return fmt.Errorf("preprocess: tensor holds %d values, want %d", len(dst), 3*n*n)
	}
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != 3*img.W*img.H {
		return fmt.Errorf("preprocess: empty or malformed image")
	}
	// The source region, in source pixels, that maps onto the n×n output.
	x0, y0, sw, sh := 0.0, 0.0, float64(img.W), float64(img.H)
	if pre.Resize != model.ResizeSquash {
		shorter := pre.ResizeShorter
		if shorter < n {
			shorter = n
		}
		scale := float64(shorter) / math.Min(sw, sh)
		side := float64(n) / scale
		x0, y0 = (sw-side)/2, (sh-side)/2
		sw, sh = side, side
	}
	src := img
	if f := int(math.Min(sw, sh) / float64(2*n)); f >= 2 {
		src = boxShrink(img, f)
		x0, y0, sw, sh = x0/float64(f), y0/float64(f), sw/float64(f), sh/float64(f)
	}
	out := resample(src, x0, y0, sw, sh, n)
	normalise(dst, out, n, pre)
	return nil
}

// boxShrink averages f×f blocks; edge blocks average what they cover.
func boxShrink(img *RGB, f int) *RGB {
	w, h := (img.W+f-1)/f, (img.H+f-1)/f
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	acc := make([]uint32, 3*w)
	cnt := make([]uint32, w)
	for by := 0; by < h; by++ {
		clear(acc)
		clear(cnt)
		for y := by * f; y < min((by+1)*f, img.H); y++ {
			row := img.Pix[3*y*img.W : 3*(y+1)*img.W]
			for x := 0; x < img.W; x++ {
				bx := x / f
				acc[3*bx] += uint32(row[3*x])
				acc[3*bx+1] += uint32(row[3*x+1])
				acc[3*bx+2] += uint32(row[3*x+2])
				cnt[bx]++
			}
		}
		o := out.Pix[3*by*w : 3*(by+1)*w]
		for bx := 0; bx < w; bx++ {
			c := cnt[bx]
			o[3*bx] = uint8((acc[3*bx] + c/2) / c)
			o[3*bx+1] = uint8((acc[3*bx+1] + c/2) / c)
			o[3*bx+2] = uint8((acc[3*bx+2] + c/2) / c)
		}
	}
	return out
}

// taps are one output sample's source indices and weights.
type taps struct {
	first int
	w     []float32
}

// filterTaps computes triangle-filter taps for n outputs over the source
// span [start, start+span) of an axis of length size.
func filterTaps(size int, start, span float64, n int) []taps {
	scale := span / float64(n)
	support := math.Max(1, scale)
	out := make([]taps, n)
	for i := range out {
		centre := start + (float64(i)+0.5)*scale
		lo := max(int(math.Floor(centre-support)), 0)
		hi := min(int(math.Ceil(centre+support)), size)
		var ws []float32
		var sum float64
		for j := lo; j < hi; j++ {
			t := math.Abs((float64(j) + 0.5 - centre) / support)
			v := math.Max(0, 1-t)
			ws = append(ws, float32(v))
			sum += v
		}
		if sum == 0 { // degenerate span: nearest pixel
			j := min(max(int(centre), 0), size-1)
			out[i] = taps{first: j, w: []float32{1}}
			continue
		}
		for k := range ws {
			ws[k] /= float32(sum)
		}
		out[i] = taps{first: lo, w: ws}
	}
	return out
}

// resample maps the source region to n×n float RGB (0..255), rows first.
func resample(img *RGB, x0, y0, sw, sh float64, n int) []float32 {
	tx := filterTaps(img.W, x0, sw, n)
	ty := filterTaps(img.H, y0, sh, n)
	// Rows the vertical pass needs.
	rlo, rhi := ty[0].first, ty[n-1].first+len(ty[n-1].w)
	for _, t := range ty {
		rlo = min(rlo, t.first)
		rhi = max(rhi, t.first+len(t.w))
	}
	tmp := make([]float32, (rhi-rlo)*n*3)
	for y := rlo; y < rhi; y++ {
		row := img.Pix[3*y*img.W : 3*(y+1)*img.W]
		o := tmp[(y-rlo)*n*3 : (y-rlo+1)*n*3]
		for i, t := range tx {
			var r, g, b float32
			for k, w := range t.w {
				p := 3 * (t.first + k)
				r += w * float32(row[p])
				g += w * float32(row[p+1])
				b += w * float32(row[p+2])
			}
			o[3*i], o[3*i+1], o[3*i+2] = r, g, b
		}
	}
	out := make([]float32, n*n*3)
	for j, t := range ty {
		o := out[j*n*3 : (j+1)*n*3]
		for k, w := range t.w {
			src := tmp[(t.first+k-rlo)*n*3 : (t.first+k-rlo+1)*n*3]
			for i := range o {
				o[i] += w * src[i]
			}
		}
	}
	return out
}

// normalise writes the n×n RGB samples into dst per pre.
func normalise(dst, rgb []float32, n int, pre model.Preprocess) {
	scale := pre.Scale
	if scale == 0 {
		scale = 1
	}
	var mul, add [3]float32 // per output channel: v*mul + add
	for c := 0; c < 3; c++ {
		std := pre.Std[c]
		if std == 0 {
			std = 1
		}
		mul[c] = scale / std
		add[c] = -pre.Mean[c] / std
	}
	// src channel for output channel c
	srcCh := [3]int{0, 1, 2}
	if pre.Order == model.BGR {
		srcCh = [3]int{2, 1, 0}
	}
	hw := n * n
	for p := 0; p < hw; p++ {
		for c := 0; c < 3; c++ {
			v := rgb[3*p+srcCh[c]]*mul[c] + add[c]
			if pre.Layout == model.NHWC {
				dst[3*p+c] = v
			} else {
				dst[c*hw+p] = v
			}
		}
	}
}

package extractor

import (
	"fmt"
	"math"

	"github.com/simsearch/simsearch/model"
)

// Tensor resizes img per pre and writes the network input for one image
// into dst, which must hold exactly 3·Size·Size values, in pre's layout
// and channel order: value = (pixel·Scale − Mean[c]) / Std[c].
//
// Geometry: ResizeCrop scales the shorter side to ResizeShorter and keeps
// the centre Size×Size; ResizeSquash scales each axis to Size. The kept
// rectangle is computed in source coordinates and only it (plus the
// filter's reach) is resampled.
//
// Filter: the kept region is first shrunk by an integer box filter (a
// plain average: exact, cheap, alias-free) while it stays at least twice
// the target, then resampled with a separable triangle filter whose
// support widens with the scale factor. That is PIL's antialiased
// bilinear resize, the one torchvision's ImageNet models were trained and
// evaluated with, so the network sees the statistics it learned; unlike
// x/image/draw's ApproxBiLinear it averages every source pixel instead of
// point-sampling (which aliases), and it costs a fraction of CatmullRom.
func Tensor(dst []float32, img *RGB, pre model.Preprocess) error {
	var s scratch
	return s.tensor(dst, img, pre)
}

// scratch is Tensor's working memory, which a decoding worker keeps from
// one image to the next: the resize then allocates nothing (it took two
// buffers of 0.6–1.3 MB per 2 MP photo, and the collector's time with
// them).
type scratch struct {
	rows []float32 // the horizontal pass: the rows the vertical one reads
	acc  []float32 // one output row of the vertical pass
}

func (s *scratch) tensor(dst []float32, img *RGB, pre model.Preprocess) error {
	if err := checkPreprocess(pre); err != nil {
		return err
	}
	n := pre.Size
	if len(dst) != 3*n*n {
		return fmt.Errorf("preprocess: tensor holds %d values, want %d", len(dst), 3*n*n)
	}
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != 3*img.W*img.H {
		return fmt.Errorf("preprocess: empty or malformed image")
	}
	x0, y0, sw, sh := region(img.W, img.H, pre)
	src := img
	if k := int(math.Min(sw, sh) / float64(2*n)); k >= 2 {
		// Box only the blocks the filter will read, on the grid anchored
		// at the image origin, so the result equals boxing everything.
		margin := float64(k) * (math.Ceil(math.Max(sw, sh)/float64(k*n)) + 2)
		bx0 := max(0, int(math.Floor((x0-margin)/float64(k))))
		by0 := max(0, int(math.Floor((y0-margin)/float64(k))))
		bx1 := min((img.W+k-1)/k, int(math.Ceil((x0+sw+margin)/float64(k))))
		by1 := min((img.H+k-1)/k, int(math.Ceil((y0+sh+margin)/float64(k))))
		src = boxShrink(img, k, bx0, by0, bx1, by1)
		x0, y0 = x0/float64(k)-float64(bx0), y0/float64(k)-float64(by0)
		sw, sh = sw/float64(k), sh/float64(k)
	}
	s.resample(dst, src, x0, y0, sw, sh, n, pre)
	if pre.Standardize {
		standardize(dst, n, pre.Layout)
	}
	return nil
}

// checkPreprocess refuses a spec Tensor cannot follow; model specs are
// validated when installed, this guards hand-built ones.
func checkPreprocess(p model.Preprocess) error {
	switch {
	case p.Size <= 0 || p.Size > 8192:
		return fmt.Errorf("preprocess: input size %d", p.Size)
	case p.Resize != model.ResizeCrop && p.Resize != model.ResizeSquash:
		return fmt.Errorf("preprocess: resize policy %q", p.Resize)
	case p.Resize == model.ResizeCrop && p.ResizeShorter < p.Size:
		return fmt.Errorf("preprocess: shorter side %d is smaller than the %d crop", p.ResizeShorter, p.Size)
	case p.Layout != model.NCHW && p.Layout != model.NHWC:
		return fmt.Errorf("preprocess: layout %q", p.Layout)
	case p.Order != model.RGB && p.Order != model.BGR:
		return fmt.Errorf("preprocess: channel order %q", p.Order)
	case !(p.Scale > 0):
		return fmt.Errorf("preprocess: scale %v", p.Scale)
	}
	for _, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("preprocess: std %v", p.Std)
		}
	}
	return nil
}

// region returns the rectangle (x0, y0, width, height), in source pixels,
// that maps onto the Size×Size output.
func region(w, h int, pre model.Preprocess) (x0, y0, sw, sh float64) {
	sw, sh = float64(w), float64(h)
	if pre.Resize == model.ResizeSquash {
		return 0, 0, sw, sh
	}
	side := float64(pre.Size) * math.Min(sw, sh) / float64(pre.ResizeShorter)
	return (sw - side) / 2, (sh - side) / 2, side, side
}

// boxShrink averages k×k blocks of img over the block range [bx0, bx1) ×
// [by0, by1); edge blocks average the pixels they cover.
func boxShrink(img *RGB, k, bx0, by0, bx1, by1 int) *RGB {
	xs, xe := bx0*k, min(bx1*k, img.W)
	box := newBox(xe-xs, k)
	out := &RGB{W: bx1 - bx0, H: by1 - by0}
	out.Pix = make([]uint8, 3*out.W*out.H)
	for by := by0; by < by1; by++ {
		n := 0
		for y := by * k; y < min((by+1)*k, img.H); y++ {
			box.add(img.Pix[3*(y*img.W+xs) : 3*(y*img.W+xe)])
			n++
		}
		o := 3 * (by - by0) * out.W
		box.emit(out.Pix[o:o+3*out.W], n)
	}
	return out
}

// taps hold, for each output sample along one axis, the first source index
// and the weights of the consecutive source samples it averages.
type taps struct {
	first, n []int
	w        []float32 // n[i] weights per output, packed
	off      []int     // offset of output i's weights in w
}

// filterTaps computes triangle-filter taps for n outputs over the source
// span [start, start+span) of an axis of size samples. Samples outside the
// axis are left out and the remaining weights renormalised.
func filterTaps(size int, start, span float64, n int) taps {
	scale := span / float64(n)
	support := math.Max(1, scale) // triangle radius, widened when shrinking
	t := taps{first: make([]int, n), n: make([]int, n), off: make([]int, n)}
	for i := range n {
		centre := start + (float64(i)+0.5)*scale
		lo := max(int(math.Floor(centre-support)), 0)
		hi := min(int(math.Ceil(centre+support)), size)
		off := len(t.w)
		var sum float64
		for j := lo; j < hi; j++ {
			v := math.Max(0, 1-math.Abs(float64(j)+0.5-centre)/support)
			t.w = append(t.w, float32(v))
			sum += v
		}
		if sum == 0 { // the span missed every sample centre: nearest one
			t.w = append(t.w[:off], 1)
			lo = min(max(int(centre), 0), size-1)
			hi, sum = lo+1, 1
		}
		for j := off; j < len(t.w); j++ {
			t.w[j] /= float32(sum)
		}
		t.first[i], t.n[i], t.off[i] = lo, hi-lo, off
	}
	return t
}

// resample maps the source region to n×n RGB (0..255), horizontal pass
// over the rows the vertical pass needs, then vertical, and writes each
// output row into dst normalised per pre (value·Scale/Std − Mean/Std, in
// its layout and channel order) as soon as it is summed.
func (s *scratch) resample(dst []float32, img *RGB, x0, y0, sw, sh float64, n int, pre model.Preprocess) {
	tx := filterTaps(img.W, x0, sw, n)
	ty := filterTaps(img.H, y0, sh, n)
	rlo, rhi := img.H, 0
	for i := range n {
		rlo = min(rlo, ty.first[i])
		rhi = max(rhi, ty.first[i]+ty.n[i])
	}
	stride := 3 * n
	s.rows = grow(s.rows, (rhi-rlo)*stride)
	tmp := s.rows
	for y := rlo; y < rhi; y++ {
		row := img.Pix[3*y*img.W : 3*(y+1)*img.W]
		o := tmp[(y-rlo)*stride : (y-rlo+1)*stride]
		for i := range n {
			ws := tx.w[tx.off[i] : tx.off[i]+tx.n[i]]
			src := row[3*tx.first[i] : 3*(tx.first[i]+len(ws))]
			var r, g, b float32
			for k, w := range ws {
				p := src[3*k : 3*k+3 : 3*k+3]
				r += w * float32(p[0])
				g += w * float32(p[1])
				b += w * float32(p[2])
			}
			o[3*i], o[3*i+1], o[3*i+2] = r, g, b
		}
	}
	var mul, add [3]float32 // per output channel: v·mul + add
	for c := range 3 {
		mul[c] = pre.Scale / pre.Std[c]
		add[c] = -pre.Mean[c] / pre.Std[c]
	}
	from := [3]int{0, 1, 2} // source channel of output channel c
	if pre.Order == model.BGR {
		from = [3]int{2, 1, 0}
	}
	s.acc = grow(s.acc, stride)
	o := s.acc
	hw := n * n
	for j := range n {
		clear(o)
		for k, w := range ty.w[ty.off[j] : ty.off[j]+ty.n[j]] {
			r := ty.first[j] + k - rlo
			src := tmp[r*stride : (r+1)*stride]
			for i := range o {
				o[i] += w * src[i]
			}
		}
		if pre.Layout == model.NHWC {
			d := dst[j*stride : (j+1)*stride]
			for i := range n {
				s, d := o[3*i:3*i+3:3*i+3], d[3*i:3*i+3:3*i+3]
				d[0] = s[from[0]]*mul[0] + add[0]
				d[1] = s[from[1]]*mul[1] + add[1]
				d[2] = s[from[2]]*mul[2] + add[2]
			}
			continue
		}
		for c := range 3 {
			d := dst[c*hw+j*n : c*hw+(j+1)*n]
			for i := range d {
				d[i] = o[3*i+from[c]]*mul[c] + add[c]
			}
		}
	}
}

// grow returns b resized to n values, reallocated only when too small.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// standardize rescales each channel of one image tensor to mean 0 and
// standard deviation 1; a flat channel becomes all zeros.
func standardize(t []float32, n int, layout model.Layout) {
	hw := n * n
	at := func(c, p int) int {
		if layout == model.NHWC {
			return 3*p + c
		}
		return c*hw + p
	}
	for c := 0; c < 3; c++ {
		var sum, sq float64
		for p := 0; p < hw; p++ {
			v := float64(t[at(c, p)])
			sum += v
			sq += v * v
		}
		mean := sum / float64(hw)
		variance := sq/float64(hw) - mean*mean
		inv := 0.0
		if variance > 1e-12 {
			inv = 1 / math.Sqrt(variance)
		}
		for p := 0; p < hw; p++ {
			i := at(c, p)
			t[i] = float32((float64(t[i]) - mean) * inv)
		}
	}
}

package extractor

import (
	"fmt"
	"math"
	"slices"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/model"
)

// GeM pooling constants: the exponent p (3 is the value Radenović et al.
// found best for retrieval, also the usual fixed choice) and the floor that
// keeps x^p defined and the gradient-free cube root stable at zero.
const (
	gemP   = 3
	gemEps = 1e-6
)

// rmacLevels is the number of R-MAC scales (L in Tolias et al.).
const rmacLevels = 3

// Pool turns a C×H×W feature map (row-major: channel, row, column) into
// one L2-normalised C-vector with method p:
//
//   - gap: the mean of each channel;
//   - gem: (mean of max(x, 1e-6)³)^(1/3), between the mean and the max;
//   - mac: the maximum of each channel;
//   - rmac: regional MAC (Tolias, Sicre and Jégou, ICLR 2016): square
//     regions at scales l = 1..3 with side 2·min(H,W)/(l+1), l regions
//     along the shorter side and as many along the longer as keep the
//     overlap near 40%; each region's MAC vector is L2-normalised and the
//     vectors summed;
//   - none: the map is already the vector (1×1, a model whose output is
//     one vector per image), copied.
//
// The dimension is the model's C, whatever it is.
func Pool(fm []float32, c, h, w int, p model.Pooling) ([]float32, error) {
	if c <= 0 || h <= 0 || w <= 0 || len(fm) != c*h*w {
		return nil, fmt.Errorf("pool: feature map has %d values, want %d×%d×%d", len(fm), c, h, w)
	}
	out := make([]float32, c)
	hw := h * w
	switch p {
	case model.GAP:
		for ch := range c {
			var s float64
			for _, x := range fm[ch*hw : (ch+1)*hw] {
				s += float64(x)
			}
			out[ch] = float32(s / float64(hw))
		}
	case model.GeM:
		for ch := range c {
			var s float64
			for _, x := range fm[ch*hw : (ch+1)*hw] {
				v := max(float64(x), gemEps)
				s += v * v * v
			}
			out[ch] = float32(math.Cbrt(s / float64(hw)))
		}
	case model.MAC:
		macRegion(fm, c, h, w, rect{0, 0, w, h}, out)
	case model.None:
		if hw != 1 {
			return nil, fmt.Errorf("pool: %q pooling needs one vector per image, got a %d×%d map", p, h, w)
		}
		copy(out, fm)
	case model.RMAC:
		region := make([]float32, c)
		for _, r := range rmacRegions(h, w, rmacLevels) {
			macRegion(fm, c, h, w, r, region)
			index.Normalize(region)
			for i, v := range region {
				out[i] += v
			}
		}
	default:
		return nil, fmt.Errorf("pool: unknown pooling %q (gap, gem, mac, rmac or none)", p)
	}
	index.Normalize(out)
	return out, nil
}

// Poolings returns the pooling methods spec's model can use: none alone
// for a model whose output is already one vector per image (Spec.Pooling
// none), else gap, gem, mac and rmac.
func Poolings(spec model.Spec) []model.Pooling {
	if spec.Pooling == model.None {
		return []model.Pooling{model.None}
	}
	return []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC}
}

// CheckPooling says why spec's model cannot use pooling p, or nil.
func CheckPooling(spec model.Spec, p model.Pooling) error {
	if slices.Contains(Poolings(spec), p) {
		return nil
	}
	if spec.Pooling == model.None {
		return fmt.Errorf("model %s outputs one %d-d vector per image, used as it is: pooling %q does not apply", spec.Name, spec.Channels, p)
	}
	return fmt.Errorf("model %s has a %d×%d×%d feature map: pooling %q does not apply (gap, gem, mac or rmac)", spec.Name, spec.Channels, spec.GridH, spec.GridW, p)
}

// rect is a region of the feature map: columns [x, x+w), rows [y, y+h).
type rect struct{ x, y, w, h int }

// macRegion writes the per-channel maximum over region r into dst.
func macRegion(fm []float32, c, h, w int, r rect, dst []float32) {
	hw := h * w
	for ch := range c {
		m := float32(math.Inf(-1))
		plane := fm[ch*hw : (ch+1)*hw]
		for y := r.y; y < r.y+r.h; y++ {
			for _, v := range plane[y*w+r.x : y*w+r.x+r.w] {
				m = max(m, v)
			}
		}
		dst[ch] = m
	}
}

// rmacRegions returns the R-MAC regions of an h×w map, following the
// geometry of Tolias et al.'s reference code: at level l the square side
// is ⌊2·min/(l+1)⌋; the shorter axis holds l regions and the longer axis
// l+extra, where extra (0..5) is chosen so that consecutive regions on the
// longer axis overlap by the fraction closest to 40%.
func rmacRegions(h, w, levels int) []rect {
	short, long := min(h, w), max(h, w)
	extra := 0
	if long > short {
		best := math.Inf(1)
		for steps := 2; steps <= 7; steps++ {
			b := float64(long-short) / float64(steps-1)
			ovr := (float64(short*short) - float64(short)*b) / float64(short*short)
			if d := math.Abs(ovr - 0.4); d < best {
				best, extra = d, steps-1
			}
		}
	}
	extraW, extraH := 0, 0
	if w > h {
		extraW = extra
	} else if h > w {
		extraH = extra
	}
	var out []rect
	for l := 1; l <= levels; l++ {
		side := 2 * short / (l + 1)
		if side == 0 {
			continue
		}
		for _, y := range starts(h, side, l+extraH) {
			for _, x := range starts(w, side, l+extraW) {
				out = append(out, rect{x, y, side, side})
			}
		}
	}
	return out
}

// starts spreads k windows of the given side evenly over an axis of size
// n, first at 0 and last flush with the end.
func starts(n, side, k int) []int {
	if k <= 1 {
		return []int{0}
	}
	step := float64(n-side) / float64(k-1)
	out := make([]int, k)
	for i := range out {
		out[i] = int(math.Floor(float64(i) * step))
	}
	return out
}

// Center subtracts the model's centre vector mean (model.Spec.Center for
// the pooling used) from v and L2-normalises v again, removing the large
// component that ReLU features share. An empty mean only normalises. A
// mean of another length is a programming error (a spec that does not
// match its model) and panics rather than yield wrong vectors silently.
func Center(v, mean []float32) {
	if len(mean) != 0 && len(mean) != len(v) {
		panic(fmt.Sprintf("extractor: centre has %d dimensions, vector %d", len(mean), len(v)))
	}
	for i, m := range mean {
		v[i] -= m
	}
	index.Normalize(v)
}

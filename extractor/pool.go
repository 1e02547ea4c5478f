package extractor

import (
	"fmt"
	"math"

	"github.com/simsearch/simsearch/model"
)

// Pool turns a C×H×W feature map (row-major) into one L2-normalised
// C-vector with method p.
func Pool(fm []float32, c, h, w int, p model.Pooling) ([]float32, error) {
	if c <= 0 || h <= 0 || w <= 0 || len(fm) != c*h*w {
		return nil, fmt.Errorf("pool: feature map has %d values, want %d×%d×%d", len(fm), c, h, w)
	}
	out := make([]float32, c)
	hw := h * w
	switch p {
	case model.GAP:
		for ch := 0; ch < c; ch++ {
			var s float64
			for _, x := range fm[ch*hw : (ch+1)*hw] {
				s += float64(x)
			}
			out[ch] = float32(s / float64(hw))
		}
	case model.GeM:
		const gemP, eps = 3.0, 1e-6
		for ch := 0; ch < c; ch++ {
			var s float64
			for _, x := range fm[ch*hw : (ch+1)*hw] {
				v := math.Max(float64(x), eps)
				s += v * v * v
			}
			out[ch] = float32(math.Cbrt(s / float64(hw)))
		}
	case model.MAC:
		macRegion(fm, c, h, w, 0, 0, h, w, out)
	case model.RMAC:
		rmac(fm, c, h, w, out)
	default:
		return nil, fmt.Errorf("pool: unknown pooling %q (gap, gem, mac or rmac)", p)
	}
	L2Normalize(out)
	return out, nil
}

// macRegion writes the per-channel maximum over rows [y, y+rh) and columns
// [x, x+rw) into dst.
func macRegion(fm []float32, c, h, w, y, x, rh, rw int, dst []float32) {
	hw := h * w
	for ch := 0; ch < c; ch++ {
		m := float32(math.Inf(-1))
		base := ch * hw
		for i := y; i < y+rh; i++ {
			for _, v := range fm[base+i*w+x : base+i*w+x+rw] {
				if v > m {
					m = v
				}
			}
		}
		dst[ch] = m
	}
}

// rmac is regional MAC (Tolias, Sicre and Jégou, 2016): square regions at
// scales l = 1..3 with side 2·min(H,W)/(l+1), spread evenly with about 40%
// overlap; each region's MAC vector is L2-normalised and the sum returned.
func rmac(fm []float32, c, h, w int, dst []float32) {
	region := make([]float32, c)
	for _, r := range rmacRegions(h, w) {
		macRegion(fm, c, h, w, r[0], r[1], r[2], r[2], region)
		L2Normalize(region)
		for i, v := range region {
			dst[i] += v
		}
	}
}

// rmacRegions returns the regions as (y, x, side) for an H×W map.
func rmacRegions(h, w int) [][3]int {
	const levels = 3
	minSide := min(h, w)
	var out [][3]int
	for l := 1; l <= levels; l++ {
		side := int(math.Floor(2 * float64(minSide) / float64(l+1)))
		if side < 1 {
			side = 1
		}
		// Regions along each axis: l along the shorter, and as many along
		// the longer as keep the overlap near 40%.
		ny, nx := steps(h, side, l), steps(w, side, l)
		for _, y := range positions(h, side, ny) {
			for _, x := range positions(w, side, nx) {
				out = append(out, [3]int{y, x, side})
			}
		}
	}
	return out
}

func steps(n, side, l int) int {
	if n <= side {
		return 1
	}
	// With overlap o = 0.4, consecutive regions start side·(1-o) apart.
	k := int(math.Ceil(float64(n-side)/(0.6*float64(side)))) + 1
	return max(k, min(l, 1))
}

func positions(n, side, k int) []int {
	if k <= 1 || n <= side {
		return []int{(n - min(side, n)) / 2}
	}
	out := make([]int, k)
	for i := range out {
		out[i] = int(math.Round(float64(i) * float64(n-side) / float64(k-1)))
	}
	return out
}

// L2Normalize scales v to unit length; a zero vector stays zero.
func L2Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// Center subtracts the model's centre vector from v and L2-normalises
// again, removing the component every photo shares.
func Center(v, mean []float32) {
	for i := range v {
		v[i] -= mean[i]
	}
	L2Normalize(v)
}

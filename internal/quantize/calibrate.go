package quantize

import (
	"fmt"
	"math"
	"slices"
)

// Rule picks the range an activation is quantized to from its histogram.
type Rule string

// Calibration rules.
const (
	// Max keeps the whole observed range: nothing clips, but one outlier
	// coarsens every step.
	Max Rule = "max"
	// Percentile clips |x| at its 99.99th percentile over the
	// calibration values.
	Percentile Rule = "percentile"
	// MSE picks the range, a fraction of the observed one, that
	// minimises the expected squared error: clipping error beyond it,
	// step²/12 of rounding within it.
	MSE Rule = "mse"
)

// Rules lists the calibration rules.
func Rules() []Rule { return []Rule{Percentile, MSE, Max} }

// ParseRule returns the rule called s, or an error naming the rules.
func ParseRule(s string) (Rule, error) {
	for _, r := range Rules() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown calibration rule %q (want max, percentile or mse)", s)
}

// percentile is the Percentile rule's quantile of |x|.
const percentile = 0.9999

// Range is the real interval an activation is quantized to.
type Range struct {
	Lo, Hi float32
}

// bins is the number of histogram bins per sign: a float32's top 16 bits
// (sign dropped) give its exponent and 7 mantissa bits, so each bin is
// 1/128 of an octave wide and any range fits without rebinning.
const bins = 1 << 15

// Histogram counts the values an activation took, on logarithmic bins,
// with the exact minimum and maximum. The zero value is ready to use.
type Histogram struct {
	pos, neg []uint64 // |x| by bin, for x > 0 and x < 0
	zeros    uint64
	n        uint64
	min, max float32
}

// Add counts the values of x; NaNs are ignored.
func (h *Histogram) Add(x []float32) {
	if h.pos == nil {
		h.pos, h.neg = make([]uint64, bins), make([]uint64, bins)
		h.min, h.max = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	for _, v := range x {
		b := math.Float32bits(v)
		switch {
		case v > 0:
			h.pos[b>>16]++
		case v < 0:
			h.neg[(b&0x7fffffff)>>16]++
		case v == 0:
			h.zeros++
		default:
			continue // NaN
		}
		h.n++
		h.min, h.max = min(h.min, v), max(h.max, v)
	}
}

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// binLo is the smallest magnitude in bin k.
func binLo(k int) float64 { return float64(math.Float32frombits(uint32(k) << 16)) }

// binMid is a representative magnitude of bin k.
func binMid(k int) float64 { return (binLo(k) + binLo(k+1)) / 2 }

// Range returns the range rule picks. A histogram of nothing, or of
// zeros only, gives [0, 0], which Quantize treats as unit scale.
func (h *Histogram) Range(rule Rule) Range {
	if h.n == 0 || h.n == h.zeros {
		return Range{}
	}
	lo, hi := float64(min(h.min, 0)), float64(max(h.max, 0))
	switch rule {
	case Percentile:
		t := h.absQuantile(percentile)
		return Range{Lo: float32(max(lo, -t)), Hi: float32(min(hi, t))}
	case MSE:
		best, bestErr := 1.0, math.Inf(1)
		for a := 1.0; a > 0.01; a *= 0.97 {
			if e := h.mse(a*lo, a*hi); e < bestErr {
				best, bestErr = a, e
			}
		}
		return Range{Lo: float32(best * lo), Hi: float32(best * hi)}
	}
	return Range{Lo: float32(lo), Hi: float32(hi)}
}

// absQuantile is the upper edge of the bin where the cumulative count of
// |x| reaches q of all values.
func (h *Histogram) absQuantile(q float64) float64 {
	want := uint64(math.Ceil(q * float64(h.n)))
	c := h.zeros
	if c >= want {
		return 0
	}
	for k := range bins {
		if c += h.pos[k] + h.neg[k]; c >= want {
			return binLo(k + 1)
		}
	}
	return math.Max(float64(h.max), -float64(h.min))
}

// mse is the expected squared error per value of quantizing to [lo, hi]
// with 256 levels: rounding noise inside, the distance to the edge
// outside. Zero is exact (the zero point is an integer).
func (h *Histogram) mse(lo, hi float64) float64 {
	step := (hi - lo) / 255
	round := step * step / 12
	var sum float64
	for k := range bins {
		if p := h.pos[k]; p > 0 {
			v := binMid(k)
			if v > hi {
				sum += float64(p) * (v - hi) * (v - hi)
			} else {
				sum += float64(p) * round
			}
		}
		if n := h.neg[k]; n > 0 {
			v := -binMid(k)
			if v < lo {
				sum += float64(n) * (v - lo) * (v - lo)
			} else {
				sum += float64(n) * round
			}
		}
	}
	return sum / float64(h.n)
}

// Ranges returns the range rule picks for each histogram, in order.
func Ranges(hists []*Histogram, rule Rule) []Range {
	out := make([]Range, len(hists))
	for i, h := range hists {
		out[i] = h.Range(rule)
	}
	return out
}

// params are the uint8 scale and zero point of r: zero point 0 when r
// holds no negative value (a ReLU's output), else the integer nearest to
// where zero falls.
func params(r Range) (scale float32, zp uint8) {
	lo, hi := min(float64(r.Lo), 0), max(float64(r.Hi), 0)
	if !(hi > lo) {
		return 1, 0
	}
	s := (hi - lo) / 255
	z := math.Round(-lo / s)
	return float32(s), uint8(slices.Max([]float64{0, min(255, z)}))
}

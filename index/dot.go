package index

import (
	"math"

	"github.com/viterin/vek/vek32"
)

// dot is the similarity kernel. vek32.Dot runs hand-written AVX2+FMA
// assembly on amd64 CPUs that have it (and a Go loop elsewhere).
// BenchmarkDot on the 2-core Xeon (AVX-512 capable; vek32 uses its AVX2
// path), 512 dims: vek32 63–82 ns, dotGo 470–660 ns, so vek32 is used
// (7–8× faster; at 128 dims 28 vs 144 ns).
func dot(a, b []float32) float32 {
	return vek32.Dot(a, b)
}

// dotGo is the portable reference kernel, kept for the benchmark and tests.
// Four accumulators break the dependency chain of a single running sum.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Normalize scales v to unit length in place (a zero vector stays zero):
// the indexes compare vectors by dot product, which is their cosine only
// for unit vectors. The sum is kept in float64 so that 512 squares do not
// lose the last bits a later unit-length check looks at.
func Normalize(v []float32) {
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

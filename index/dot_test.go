package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestDot_MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 8, 17, 64, 512, 1000} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = rng.Float32()-0.5, rng.Float32()-0.5
			want += float64(a[i]) * float64(b[i])
		}
		for name, f := range map[string]func(a, b []float32) float32{"dot": dot, "dotGo": dotGo} {
			if got := f(a, b); math.Abs(float64(got)-want) > 1e-4 {
				t.Errorf("%s n=%d: got %v, want %v", name, n, got, want)
			}
		}
	}
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{128, 512, 4096} {
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = float32(i%7)*0.1, float32(i%5)*0.1
		}
		for name, f := range map[string]func(a, b []float32) float32{"vek32": dot, "go": dotGo} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				var s float32
				for b.Loop() {
					s += f(x, y)
				}
				_ = s
			})
		}
	}
}

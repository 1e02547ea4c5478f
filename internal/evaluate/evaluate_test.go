package evaluate

import (
	"math"
	"slices"
	"testing"
)

// Scores that are exact in float32: 0~1 and 2~3 are the true pairs, 1~3
// scores as high as they do without being one.
var testVecs = [][]float32{{1, 0}, {0.75, 0.5}, {0, 1}, {0.5, 0.75}}

func testSame(i, j int) bool { return i/2 == j/2 }

func TestPairs_ScoresEveryPairOnce(t *testing.T) {
	got := Pairs(testVecs, testSame)
	want := []Pair{
		{A: 0, B: 1, Score: 0.75, Same: true},
		{A: 0, B: 2, Score: 0},
		{A: 0, B: 3, Score: 0.5},
		{A: 1, B: 2, Score: 0.5},
		{A: 1, B: 3, Score: 0.75},
		{A: 2, B: 3, Score: 0.75, Same: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("pairs\n got %v\nwant %v", got, want)
	}
	if got := Pairs(testVecs[:1], testSame); len(got) != 0 {
		t.Errorf("one vector gave pairs %v", got)
	}
}

func TestPRF(t *testing.T) {
	pairs := Pairs(testVecs, testSame)
	for _, tc := range []struct {
		name      string
		pairs     []Pair
		predicted func(Pair) bool
		p, r, f1  float64
	}{
		{"threshold met exactly counts", pairs, AtLeast(0.75), 2.0 / 3, 1, 0.8},
		{"low threshold", pairs, AtLeast(0.5), 0.4, 1, 4.0 / 7},
		{"nothing predicted", pairs, AtLeast(0.8), 0, 0, 0},
		{"one true pair of two", pairs, func(p Pair) bool { return p.A == 0 && p.B == 1 }, 1, 0.5, 2.0 / 3},
		{"no true pairs", Pairs(testVecs, func(int, int) bool { return false }), AtLeast(0), 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r, f1 := PRF(tc.pairs, tc.predicted)
			if math.Abs(p-tc.p) > 1e-12 || math.Abs(r-tc.r) > 1e-12 || math.Abs(f1-tc.f1) > 1e-12 {
				t.Errorf("precision %v recall %v F1 %v, want %v %v %v", p, r, f1, tc.p, tc.r, tc.f1)
			}
		})
	}
}

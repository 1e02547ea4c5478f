package classify

import (
	"math"
	"testing"
)

// Softmax against a hand computation: scores 1, 2, 3 give
// e^-2, e^-1, 1 over their sum.
func TestSoftmax_ByHand(t *testing.T) {
	got := make([]float32, 3)
	Softmax(got, []float32{1, 2, 3})
	sum := math.Exp(-2) + math.Exp(-1) + 1
	want := []float64{math.Exp(-2) / sum, math.Exp(-1) / sum, 1 / sum}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-7 {
			t.Errorf("p[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// Large scores do not overflow.
	Softmax(got, []float32{1000, 1000, 0})
	if got[0] != 0.5 || got[1] != 0.5 || got[2] != 0 {
		t.Errorf("softmax(1000, 1000, 0) = %v", got)
	}
}

func TestTop_OrderAndTies(t *testing.T) {
	classes := []Class{{"a", "A"}, {"b", "B"}, {"c", "C"}, {"d", "D"}}
	got := Top([]float32{0.1, 0.4, 0.1, 0.4}, classes, 3)
	want := []int{1, 3, 0}
	if len(got) != 3 {
		t.Fatalf("%d predictions, want 3", len(got))
	}
	for i, w := range want {
		if got[i].Index != w || got[i].ID != classes[w].ID {
			t.Errorf("rank %d: %+v, want index %d", i, got[i], w)
		}
	}
	if n := len(Top([]float32{1, 2}, nil, 5)); n != 2 {
		t.Errorf("top 5 of 2 classes gave %d", n)
	}
}

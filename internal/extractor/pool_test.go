package extractor

import (
	"math"
	"slices"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// smallMap is a 2×3×3 feature map: channel 0 holds 1..9 row by row,
// channel 1 is zero except 9 in the bottom-right cell.
var smallMap = []float32{
	1, 2, 3, 4, 5, 6, 7, 8, 9,
	0, 0, 0, 0, 0, 0, 0, 0, 9,
}

func unit(v ...float64) []float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	for i := range v {
		v[i] /= math.Sqrt(s)
	}
	return v
}

func TestPool_HandComputed(t *testing.T) {
	a := 1 / math.Sqrt2 // a region whose MAC is (9, 9), normalised
	tests := []struct {
		p    model.Pooling
		want []float64
	}{
		// means 45/9 and 9/9
		{model.GAP, unit(5, 1)},
		// cubes: (1³+…+9³)/9 = 2025/9 = 225; 9³/9 = 81 (the eight
		// clamped zeros add 8e-18)
		{model.GeM, unit(math.Cbrt(225), math.Cbrt(81))},
		{model.MAC, unit(9, 9)},
		// l=1: the whole map, (a, a). l=2: four 2×2 regions; only the
		// bottom-right one sees channel 1: 3·(1, 0) + (a, a). l=3: nine
		// 1×1 regions: 8·(1, 0) + (a, a). Sum: (11 + 3a, 3a).
		{model.RMAC, unit(11+3*a, 3*a)},
	}
	for _, tt := range tests {
		got, err := Pool(smallMap, 2, 3, 3, tt.p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tt.want {
			if math.Abs(float64(got[i])-tt.want[i]) > 1e-6 {
				t.Errorf("%s = %v, want %v", tt.p, got, tt.want)
				break
			}
		}
	}
}

func TestRMACRegions_ToliasGeometry(t *testing.T) {
	tests := []struct {
		h, w  int
		count int
		want  []rect // a few that must be there
	}{
		// VGG16 at 224: 1 + 2×2 + 3×3 regions of sides 7, 4 and 3.
		{7, 7, 14, []rect{{0, 0, 7, 7}, {3, 3, 4, 4}, {0, 0, 3, 3}, {2, 4, 3, 3}, {4, 4, 3, 3}}},
		// Wider map: one extra region along the width at every level
		// (2 steps give 57% overlap, the closest to 40%).
		{7, 10, 2 + 6 + 12, []rect{{0, 0, 7, 7}, {3, 0, 7, 7}, {6, 3, 4, 4}, {7, 4, 3, 3}}},
		// Taller map: the extra regions go down.
		{10, 7, 20, []rect{{0, 3, 7, 7}}},
		// 1×1 map: l=1 is the cell, l=2 and l=3 have side 0 and are skipped.
		{1, 1, 1, []rect{{0, 0, 1, 1}}},
	}
	for _, tt := range tests {
		got := rmacRegions(tt.h, tt.w, rmacLevels)
		if len(got) != tt.count {
			t.Errorf("%d×%d: %d regions, want %d: %v", tt.h, tt.w, len(got), tt.count, got)
		}
		for _, r := range tt.want {
			if !slices.Contains(got, r) {
				t.Errorf("%d×%d: region %+v missing from %v", tt.h, tt.w, r, got)
			}
		}
		for _, r := range got {
			if r.x < 0 || r.y < 0 || r.x+r.w > tt.w || r.y+r.h > tt.h {
				t.Errorf("%d×%d: region %+v outside the map", tt.h, tt.w, r)
			}
		}
	}
}

func TestPool_DimensionsFromTheMapAndErrors(t *testing.T) {
	fm := make([]float32, 5*2*4)
	for i := range fm {
		fm[i] = float32(i % 7)
	}
	for _, p := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
		v, err := Pool(fm, 5, 2, 4, p)
		if err != nil || len(v) != 5 {
			t.Fatalf("%s: %d dims, %v", p, len(v), err)
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-6 {
			t.Errorf("%s: squared norm %v, want 1", p, n)
		}
	}
	if _, err := Pool(fm, 5, 2, 3, model.GAP); err == nil {
		t.Error("wrong map size: no error")
	}
	if _, err := Pool(fm, 5, 2, 4, "avg"); err == nil {
		t.Error("unknown pooling: no error")
	}
	zero, err := Pool(make([]float32, 8), 2, 2, 2, model.MAC)
	if err != nil || zero[0] != 0 || zero[1] != 0 {
		t.Errorf("all-zero map: %v, %v; want a zero vector, not NaN", zero, err)
	}
}

func TestCenter(t *testing.T) {
	v := []float32{1, 0}
	Center(v, []float32{0.5, 0.5})
	if want := float32(1 / math.Sqrt2); math.Abs(float64(v[0]-want)) > 1e-6 || math.Abs(float64(v[1]+want)) > 1e-6 {
		t.Errorf("centred %v, want (%v, %v)", v, want, -want)
	}
	u := []float32{3, 4}
	Center(u, nil)
	if u[0] != 0.6 || u[1] != 0.8 {
		t.Errorf("no centre: %v, want (0.6, 0.8)", u)
	}
	defer func() {
		if recover() == nil {
			t.Error("centre of the wrong length did not panic")
		}
	}()
	Center([]float32{1, 2, 3}, []float32{1, 2})
}

package extractor

import (
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/model"
)

func TestPool_None(t *testing.T) {
	v := []float32{3, -4, 0}
	got, err := Pool(v, 3, 1, 1, model.None)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.6, -0.8, 0}; !slices.Equal(got, want) {
		t.Errorf("Pool(none) = %v, want the vector normalised, %v", got, want)
	}
	if v[0] != 3 {
		t.Error("Pool(none) changed its input")
	}
	got[0] = 9
	if v[0] != 3 {
		t.Error("Pool(none) returned its input, not a copy")
	}
	if _, err := Pool(make([]float32, 12), 3, 2, 2, model.None); err == nil {
		t.Error("Pool(none) accepted a 2×2 map")
	}
}

func TestCheckPooling(t *testing.T) {
	vec := model.Spec{Name: "enc", Channels: 8, GridH: 1, GridW: 1, Pooling: model.None}
	fmap := model.Spec{Name: "vgg", Channels: 512, GridH: 7, GridW: 7, Pooling: model.RMAC}
	for _, tt := range []struct {
		spec model.Spec
		p    model.Pooling
		ok   bool
	}{
		{vec, model.None, true},
		{vec, model.MAC, false},
		{vec, model.GAP, false},
		{fmap, model.RMAC, true},
		{fmap, model.GeM, true},
		{fmap, model.None, false},
		{fmap, "mean", false},
	} {
		err := CheckPooling(tt.spec, tt.p)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPooling(%s, %s) = %v, want ok %v", tt.spec.Name, tt.p, err, tt.ok)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), string(tt.p))) {
			t.Errorf("error %q is not one line naming the pooling", err)
		}
	}
	if got := Poolings(vec); !slices.Equal(got, []model.Pooling{model.None}) {
		t.Errorf("Poolings(vector model) = %v, want none only", got)
	}
	if got := Poolings(fmap); len(got) != 4 || slices.Contains(got, model.None) {
		t.Errorf("Poolings(feature map) = %v", got)
	}
}

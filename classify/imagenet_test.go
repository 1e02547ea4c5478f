package classify

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
)

func TestImageNet_List(t *testing.T) {
	sum := sha256.Sum256([]byte(imagenetList))
	if got := hex.EncodeToString(sum[:]); got != "acf75ef0abe89694b19056e0796401068b459c457baa30335f240c7692857355" {
		t.Errorf("embedded imagenet.txt has sha256 %s, not the zoo's synset.txt", got)
	}
	c := ImageNet()
	if len(c) != 1000 {
		t.Fatalf("%d classes, want 1000", len(c))
	}
	if c[292] != (Class{ID: "n02129604", Name: "tiger"}) {
		t.Errorf("class 292 = %+v, want n02129604 tiger", c[292])
	}
	if c[0] != (Class{ID: "n01440764", Name: "tench"}) || c[999].ID != "n15075141" {
		t.Errorf("first and last classes: %+v, %+v", c[0], c[999])
	}
	ids := map[string]bool{}
	for i, x := range c {
		if len(x.ID) != 9 || x.ID[0] != 'n' || x.Name == "" || ids[x.ID] {
			t.Errorf("class %d: %+v is not a unique WordNet id with a name", i, x)
		}
		ids[x.ID] = true
	}
	if n := ImageNetNames()[292]; !slices.Equal(n, []string{"tiger", "Panthera tigris"}) {
		t.Errorf("names of class 292: %q", n)
	}
}

func TestFindImageNet(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want []int
	}{
		{"tiger", []int{292}},
		{" TIGER ", []int{292}},
		{"n02129604", []int{292}},
		{"N02129604", []int{292}},
		{"panthera tigris", []int{292}},
		{"tiger shark", []int{3}},
		{"crane", []int{134, 517}},
		{"tig", nil},
		{"", nil},
	} {
		if got := FindImageNet(tc.s); !slices.Equal(got, tc.want) {
			t.Errorf("FindImageNet(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

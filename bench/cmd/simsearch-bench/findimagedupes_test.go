package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/evaluate"
)

func TestParseFindimagedupes(t *testing.T) {
	index := map[string]int{"a.jpg": 0, "b c.jpg": 1, "d.png": 2, "e.jpg": 3}
	out := "/p/a.jpg /p/b c.jpg\n\n/p/d.png /p/e.jpg /p/a.jpg\n"
	got, err := parseFindimagedupes([]byte(out), index)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{0, 1}, {2, 3, 0}}; !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Errorf("groups %v, want %v", got, want)
	}
	if _, err := parseFindimagedupes([]byte("/p/a.jpg /p/stranger.jpg\n"), index); err == nil || !strings.Contains(err.Error(), "stranger.jpg") {
		t.Errorf("err %v, want one naming the unknown file", err)
	}
	if got, err := parseFindimagedupes(nil, index); err != nil || len(got) != 0 {
		t.Errorf("no output: %v, %v", got, err)
	}
}

func TestPeerFigure_ScoresGroupsAsPairs(t *testing.T) {
	// 0~1 and 2~3 are copies; the peer chains 1, 2 and 3 into one group.
	vecs := [][]float32{{1, 0}, {1, 0}, {0, 1}, {0, 1}, {0.6, 0.8}}
	same := func(i, j int) bool { return i/2 == j/2 }
	pairs := evaluate.Pairs(vecs, same)
	var f peerFigure
	f.score(pairs, pairsOf([][]int{{1, 2, 3}}), [][2]int{{1, 0}, {3, 2}}, []string{"a", "a-copy", "b", "b-copy", "c"})
	// Predicted 1~2, 1~3, 2~3: one true pair of three; one of two found.
	if f.P != 1.0/3 || f.R != 0.5 || !slices.Equal(f.Missed, []string{"a-copy"}) {
		t.Errorf("P %v R %v missed %v, want 1/3, 1/2, [a-copy]", f.P, f.R, f.Missed)
	}
}

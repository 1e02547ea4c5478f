package index_test

import (
	"bytes"
	"fmt"

	"github.com/simsearch/simsearch/index"
)

func ExampleHNSW() {
	idx := index.NewHNSW(3, nil) // nil: M=16, EfConstruction=200, EfSearch=64
	vecs := map[uint64][]float32{
		1: {1, 0, 0},
		2: {0, 1, 0},
		3: {0.6, 0.8, 0}, // L2-normalised, as Add expects
	}
	for id := uint64(1); id <= 3; id++ {
		if err := idx.Add(id, vecs[id]); err != nil {
			panic(err)
		}
	}
	hits, err := idx.Search([]float32{0.8, 0.6, 0}, 2, 0)
	if err != nil {
		panic(err)
	}
	for _, h := range hits {
		fmt.Printf("%d %.2f\n", h.ID, h.Score)
	}

	// Save and Load round-trip through any io.Writer / io.Reader.
	var buf bytes.Buffer
	if err := idx.Save(&buf); err != nil {
		panic(err)
	}
	loaded := index.NewHNSW(3, nil)
	if err := loaded.Load(&buf); err != nil {
		panic(err)
	}
	fmt.Println(loaded.Len())
	// Output:
	// 3 0.96
	// 1 0.80
	// 3
}

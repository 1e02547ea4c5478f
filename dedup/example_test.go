package dedup_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/index"
)

// vectors is a VectorSource over a map, as the engine's database is one.
type vectors map[uint64][]float32

func (v vectors) Vector(id uint64) ([]float32, error) { return v[id], nil }

// Group four photos: a byte-identical copy, a resized near copy and an
// unrelated photo, then print the report and each copy's reason.
func Example() {
	items := []dedup.Item{
		{ID: 1, Path: "/photos/bear.jpg", Width: 4000, Height: 3000, Size: 4_200_000},
		{ID: 2, Path: "/photos/copy/bear.jpg", Width: 4000, Height: 3000, Size: 4_200_000},
		{ID: 3, Path: "/photos/small/bear.jpg", Width: 1000, Height: 750, Size: 310_000},
		{ID: 4, Path: "/photos/cat.jpg", Width: 4000, Height: 3000, Size: 3_900_000},
	}
	items[1].Hash = items[0].Hash // the same bytes
	items[2].Hash[0], items[3].Hash[0] = 3, 4
	vecs := vectors{
		1: {1, 0, 0}, 2: {1, 0, 0},
		3: {0.96, 0.28, 0}, // cosine 0.96 to bear.jpg
		4: {0, 0, 1},
	}
	idx := index.NewFlat(3)
	for id, v := range vecs {
		if err := idx.Add(id, v); err != nil {
			log.Fatal(err)
		}
	}
	groups, err := dedup.Find(context.Background(), items, vecs, idx, &dedup.Options{Threshold: 0.9, Keep: dedup.Default})
	if err != nil {
		log.Fatal(err)
	}
	if err := dedup.WriteReport(os.Stdout, dedup.Table, groups, nil); err != nil {
		log.Fatal(err)
	}
	for _, g := range groups {
		for _, m := range g.Members {
			fmt.Printf("%s: %s copy of %s, score %.2f\n", m.Path, m.Reason, g.Keeper.Path, m.Score)
		}
	}
	// Output:
	// GROUP  ROLE  REASON                          SCORE   SIZE       BYTES    PATH
	// 1      keep  shorter path (every rule tied)  -       4000x3000  4200000  /photos/bear.jpg
	// 1      dup   exact                           1.0000  4000x3000  4200000  /photos/copy/bear.jpg
	// 1      dup   near                            0.9600  1000x750   310000   /photos/small/bear.jpg
	// 1 groups, 2 duplicates
	// /photos/copy/bear.jpg: exact copy of /photos/bear.jpg, score 1.00
	// /photos/small/bear.jpg: near copy of /photos/bear.jpg, score 0.96
}

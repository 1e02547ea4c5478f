package simsearch_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/simsearch/simsearch"
)

// Prepare the offline model, index a folder, then find the photo most
// like a re-encoded copy of one of them.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "simsearch-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// PrepareModel builds vgg16-random when it is missing (LoadModel only
	// loads an installed model).
	m, err := simsearch.PrepareModel(ctx, &simsearch.ModelOptions{
		Dir:  filepath.Join(dir, "models"),
		Name: "vgg16-random",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	eng, err := simsearch.Open(ctx, &simsearch.Options{
		DB:    filepath.Join(dir, "photos.db"),
		Model: m,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	sum, err := eng.Index(ctx, []string{"testdata/photos/jetty.jpg", "testdata/photos/cat.jpg", "testdata/photos/rocket.jpg"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added", sum.Added)

	matches, err := eng.Query(ctx, "testdata/photos/jetty--q30.jpg", &simsearch.QueryOptions{K: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range matches {
		fmt.Println(r.Rank, filepath.Base(r.Path), r.Score > 0.9)
	}
	// Output:
	// added 3
	// 1 jetty.jpg true
}

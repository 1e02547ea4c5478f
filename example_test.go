package simsearch_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/simsearch/simsearch"
)

// Index two photos and a re-encoded copy, then find the copy's original.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "simsearch-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	eng, err := simsearch.Open(ctx, &simsearch.Options{
		DB:        filepath.Join(dir, "photos.db"),
		ModelsDir: filepath.Join(dir, "models"),
		Model:     "vgg16-random",
		Log:       io.Discard,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer eng.Close()
	photos := []string{"testdata/photos/jetty.jpg", "testdata/photos/cat.jpg", "testdata/photos/jetty--q30.jpg"}
	if _, err := eng.Index(ctx, photos, nil); err != nil {
		fmt.Println(err)
		return
	}
	matches, err := eng.Query(ctx, "testdata/photos/jetty--q30.jpg", &simsearch.QueryOptions{K: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range matches {
		rel, _ := filepath.Rel(mustGetwd(), m.Path)
		fmt.Println(m.Rank, rel)
	}
	// It prints "1 testdata/photos/jetty.jpg". (Not checked as an Output
	// example: it needs ONNX Runtime; TestEngine_CopiesFindTheirOriginal
	// checks the same.)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

package store_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/simsearch/simsearch/internal/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := store.Open(filepath.Join(dir, "simsearch.db"), &store.Options{
		Fingerprint: "3f2a9c1b0d4e5f60", ModelName: "vgg16", Dims: 4,
	})
	if err != nil {
		log.Fatal(err) // store.ErrLocked, store.ErrModelMismatch, ...
	}
	defer db.Close()

	// One transaction per batch; a path already stored keeps its ID.
	ids, err := db.Put([]store.Record{
		{Item: store.Item{Path: "/photos/bear.jpg", Width: 640, Height: 480, Format: "jpeg"}, Vector: []float32{1, 0, 0, 0}},
		{Item: store.Item{Path: "/photos/fox.png", Width: 800, Height: 600, Format: "png"}, Vector: []float32{0, 1, 0, 0}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ids:", ids)

	// Build the index from the vectors, then keep a snapshot of it.
	err = db.ForEachVector(func(id uint64, v []float32) error {
		fmt.Println("vector", id, v)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	m, _ := db.Meta()
	err = db.SaveIndex(m.ItemsVersion, func(w io.Writer) error {
		_, err := w.Write([]byte("serialised index"))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// Next run: load the snapshot, and learn whether it is current.
	var buf bytes.Buffer
	version, current, err := db.LoadIndex(func(r io.Reader) error {
		_, err := buf.ReadFrom(r)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("snapshot %q at version %d, current: %v\n", buf.String(), version, current)

	// Output:
	// ids: [1 2]
	// vector 1 [1 0 0 0]
	// vector 2 [0 1 0 0]
	// snapshot "serialised index" at version 1, current: true
}

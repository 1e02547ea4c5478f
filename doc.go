// Package simsearch finds photos of the same subject and near-duplicate
// copies in a photo collection. An Engine wires a model (package model),
// its feature extractor (package extractor: decode, orient, resize, VGG16
// through ONNX Runtime, pooling), the bbolt database (package store) and an
// HNSW index (package index).
//
// Open an engine on a database, bring it up to date with a folder, then
// ask for the photos most like one image:
//
//	eng, err := simsearch.Open(ctx, &simsearch.Options{DB: "photos.db"})
//	if err != nil {
//		return err
//	}
//	defer eng.Close()
//	sum, err := eng.Index(ctx, []string{"./photos"}, nil)
//	if err != nil {
//		return err
//	}
//	fmt.Printf("%d added, %d unchanged\n", sum.Added, sum.Unchanged)
//	matches, err := eng.Query(ctx, "bear.jpg", &simsearch.QueryOptions{K: 5})
//	if err != nil {
//		return err
//	}
//	for _, m := range matches {
//		fmt.Printf("%d %.3f %s\n", m.Rank, m.Score, m.Path)
//	}
//
// A model with a classifier (vgg16, vgg19) also names what photos show:
// Model.Classify gives each image's most probable ImageNet classes from
// the same network run as its embedding (or a trained head's classes, see
// package classify), Index stores each item's top classes as its Labels,
// and QueryOptions.Label keeps the items with one of them.
//
// With no model named, Open uses the pretrained vgg16 when it has been
// pulled (simsearch model pull vgg16) and otherwise builds vgg16-random,
// whose random weights find near-duplicates but not subjects.
package simsearch

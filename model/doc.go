// Package model knows the networks simsearch can run and prepares them:
// a catalog of models (Catalog, Lookup), their installation in a model
// directory (Pull, BuildRandom, Register, Load, Installed) and a look at
// an ONNX file (Describe, Dot). The ONNX work behind it (protobuf types,
// shape inference, graph surgery, building VGG networks) is in
// internal/onnx.
//
// An installed model is two files in the model directory: <name>.onnx and
// <name>.json, the Spec that says how to feed it and which output holds
// the feature map. Spec.Fingerprint identifies the vectors a model and a
// pooling give, so that a database never mixes incompatible vectors.
//
// Example: install the offline model and print its layers.
//
//	dir, err := model.DefaultDir(os.Getenv)
//	if err != nil {
//		return err
//	}
//	e, _ := model.Lookup("vgg16-random") // built here, not downloaded
//	spec, err := model.Pull(ctx, e, dir, nil)
//	if err != nil {
//		return err
//	}
//	return model.Describe(os.Stdout, spec.Path)
package model

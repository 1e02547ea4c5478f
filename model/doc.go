// Package model knows the networks simsearch can run and prepares them:
// a catalog of models (Catalog, Lookup), their installation in a model
// directory (Pull, BuildRandom, Register, Load, Installed) and a look at
// an ONNX file (Describe, Dot). The ONNX work behind it (protobuf types,
// shape inference, graph surgery, building VGG networks) is in
// internal/onnx.
//
// The catalog has the ONNX model zoo's VGG16, VGG19 and int8 VGG16 (pulled,
// or installed from a file fetched elsewhere) and the offline
// vgg16-random and vgg19-random. Register takes a user's export: a
// network with a feature map, or an image encoder whose output is already
// one vector per image (pooling None).
//
// An installed model is two files in the model directory: <name>.onnx and
// <name>.json, the Spec that says how to feed it, which output holds
// the feature map and which the classifier's scores (Logits). Spec.Fingerprint identifies the vectors a model and a
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

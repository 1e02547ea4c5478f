// Package model knows the networks simsearch can run and prepares them:
// a catalog of models (Catalog, Lookup), their installation in a model
// directory (Pull, BuildRandom, Register, Load, Installed), and the ONNX
// work that needs no runtime: reading and writing ONNX files (ReadModel,
// WriteModel), shape inference (InferShapes), exposing the last max-pool
// as a feature output (ExposeFeatures), building VGG networks with
// deterministic random or given weights (NewVGG, BuildVGG) and describing
// a graph (Summary, Dot).
//
// An installed model is two files in the model directory: <name>.onnx and
// <name>.json, the Spec that says how to feed it and which output holds
// the feature map. Spec.Fingerprint identifies the vectors a model and a
// pooling give, so that a database never mixes incompatible vectors.
//
// The ONNX protobuf types live in model/onnxpb, generated from the
// official onnx.proto with protoc-gen-go. The module that already exports
// such types (advancedclimatesystems/gonnx) brings gorgonia, arrow and
// flatbuffers with it; ours depend on google.golang.org/protobuf only.
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
//	m, err := model.ReadModel(spec.Path)
//	if err != nil {
//		return err
//	}
//	return model.Summary(os.Stdout, m)
package model

// Package onnx is the ONNX work that needs no runtime: reading and
// writing ONNX files (ReadModel, WriteModel), shape inference
// (InferShapes), exposing the last max-pool as a feature output
// (ExposeFeatures, ExposeOutput), building VGG networks with deterministic
// random or given weights (NewVGG, BuildVGG) and describing a graph
// (Summary, Dot).
//
// The protobuf types live in onnxpb, generated from the official
// onnx.proto with protoc-gen-go. The module that already exports such
// types (advancedclimatesystems/gonnx) brings gorgonia, arrow and
// flatbuffers with it; ours depend on google.golang.org/protobuf only.
package onnx

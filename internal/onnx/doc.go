// Package onnx is the ONNX work that needs no runtime: reading and
// writing ONNX files (ReadModel, WriteModel), shape inference
// (InferShapes, TensorDims; with the quantized operators of int8
// exports), exposing the last max-pool as a feature output
// (ExposeFeatures, ExposeOutput; dequantized in an int8 model, see
// Quantization), a classifier's scores (FindLogits, ExposeLogits) or an
// encoder's N×D vectors (ExposeVector), building VGG16/VGG19 networks with
// deterministic random or given weights (NewVGG, BuildVGG) and describing
// a graph (Summary, Dot). Package onnxtest builds small quantized and
// encoder models for tests.
//
// The protobuf types live in onnxpb, generated from the official
// onnx.proto with protoc-gen-go. The module that already exports such
// types (advancedclimatesystems/gonnx) brings gorgonia, arrow and
// flatbuffers with it; ours depend on google.golang.org/protobuf only.
package onnx

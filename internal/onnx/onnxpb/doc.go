// Package onnxpb holds the Go types generated from the ONNX protobuf schema
// (onnx.proto from ONNX 1.12, as shipped by Debian's python3-onnx package,
// Apache-2.0; see LICENSE). The generated file is committed so that a build
// needs neither protoc nor protoc-gen-go. The fields are proto2: read them
// with the generated getters, set them with proto.String, proto.Int64...
//
//	m := &onnxpb.ModelProto{}
//	if err := proto.Unmarshal(b, m); err != nil {
//		return err
//	}
//	for _, n := range m.GetGraph().GetNode() {
//		fmt.Println(n.GetName(), n.GetOpType())
//	}
//
// To regenerate, with protoc and protoc-gen-go v1.36.12 on PATH:
//
//	go generate ./model/onnxpb
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/simsearch/simsearch/internal/onnx/onnxpb onnx.proto

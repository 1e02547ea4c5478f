// Package onednn runs the convolutional trunk of a VGG-shaped model
// (convolutions with fused ReLUs and max-pools up to the feature output,
// NCHW float32 in and out like the ONNX Runtime session) through Intel's
// oneDNN library, which uses the AMX and AVX-512 BF16 instructions that
// ONNX Runtime's CPU kernels leave idle.
//
// The library is loaded at run time (dlopen of libdnnl.so.2), so a binary
// built here starts and works where it is not installed: Available says
// whether it loads, and the caller then falls back to ONNX Runtime. The
// weights come from the model's own ONNX file; they are reordered once,
// when the Executor is made, into the layout the chosen kernels want.
//
//	if ok, why := onednn.Available(); !ok {
//		log.Print(why) // use ONNX Runtime
//	}
//	x, err := onednn.New(spec, &onednn.Options{Threads: 2, Precision: onednn.BF16})
//	maps, err := x.Run(ctx, input, batch) // batch×C×H×W float32
//
// What is specific to oneDNN 2.x (operation descriptors, memory
// descriptors by value, the post-op and output-scale attributes, all
// changed in 3.x) lives in dnnl2_cgo.go; onednn_cgo.go holds the rest.
// Without cgo, or built with -tags nodnnl, Available is false.
package onednn

package quantize

// TinyConv is tinyConv for the external tests (runtime_test.go), which
// run the graphs in ONNX Runtime through the extractor: the extractor
// imports this package (through its oneDNN engine), so those tests cannot
// live inside it.
var TinyConv = tinyConv

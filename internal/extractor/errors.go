package extractor

import "errors"

// Sentinel errors returned (wrapped) by Decode, DecodeBytes and
// DecodeFile. Test for them with errors.Is.
var (
	// ErrTooLarge means the image declares more pixels than
	// DecodeOptions.MaxPixels, or a side longer than any real photo. It is
	// detected from the header, before any pixel memory is allocated.
	ErrTooLarge = errors.New("image too large")

	// ErrUnsupported means the content is a recognised image format that
	// this package cannot decode (HEIC, AVIF, JPEG XL, camera raw, SVG,
	// ...). The message names the format: "unsupported format heic".
	ErrUnsupported = errors.New("unsupported format")

	// ErrNotImage means the content matches no known image signature.
	ErrNotImage = errors.New("not an image")

	// ErrCorrupt means the content starts like a supported image but its
	// header or pixel data cannot be decoded (truncated, zero dimensions,
	// damaged).
	ErrCorrupt = errors.New("corrupt image")

	// ErrModelFile means ONNX Runtime could not load a model file: it is
	// damaged, truncated, not ONNX, or lacks the spec's input or output.
	ErrModelFile = errors.New("model file cannot be loaded")
)

package extractor

import "errors"

// Sentinel errors returned (wrapped) by Decode, DecodeBytes, DecodeFile and
// ReadImage. Test for them with errors.Is.
var (
	// ErrTooLarge means the image declares more pixels than
	// DecodeOptions.MaxPixels, or a side longer than any real photo. It is
	// detected from the header, before any pixel memory is allocated.
	ErrTooLarge = errors.New("image too large")

	// ErrUnsupported means the content is a recognised image format that
	// this package cannot decode (JPEG XL, JPEG 2000, SVG, PSD, ...). The
	// message names the format: "unsupported format jxl".
	ErrUnsupported = errors.New("unsupported format")

	// ErrNoPreview means a camera raw file (DNG, CR2, CR3, NEF, ARW,
	// ORF, RW2, PEF, RAF) holds no embedded JPEG preview that decodes:
	// raw files are indexed by their preview, never their sensor data.
	// The message says what was found: "camera raw file without a usable
	// preview: no embedded JPEG".
	ErrNoPreview = errors.New("camera raw file without a usable preview")

	// ErrNotImage means the content matches no known image signature, or
	// the file is empty.
	ErrNotImage = errors.New("not an image")

	// ErrNotRegular means ReadImage was given a FIFO, device, socket or
	// directory, or a symbolic link to one, and refused it without opening
	// it for reading. The message names the kind: "not a regular file
	// (named pipe)", "not a regular file (link to a character device)".
	ErrNotRegular = errors.New("not a regular file")

	// ErrFileTooLarge means the file holds more bytes than ReadImage's
	// limit (DefaultMaxBytes unless set). An image that declares too many
	// pixels is ErrTooLarge instead.
	ErrFileTooLarge = errors.New("file too large")

	// ErrCorrupt means the content starts like a supported image but its
	// header or pixel data cannot be decoded (truncated, zero dimensions,
	// damaged).
	ErrCorrupt = errors.New("corrupt image")

	// ErrModelFile means ONNX Runtime could not load a model file: it is
	// damaged, truncated, not ONNX, or lacks the spec's input or output.
	ErrModelFile = errors.New("model file cannot be loaded")
)

package extractor

import "time"

// ReadCapture returns what the image file b says about its capture,
// without decoding a pixel: its format, and the EXIF capture time and
// camera that DecodeBytes puts in Info (for a camera raw file its own
// IFD0's, else its largest preview's, as DecodeBytes reads them). name
// tells camera raw files in a plain TIFF container by their extension,
// as DecodeOptions.Name does. A file without them, or no image at all,
// gives them empty. The index fills in photos stored before these fields
// were with it, from their files, without embedding them again.
func ReadCapture(b []byte, name string) (info Info) {
	format := Sniff(b)
	if format == FormatTIFF && RawExtension(name) {
		format = FormatRAW
	}
	info.Format = format
	if format == "" {
		return info
	}
	// The container readers are fuzzed, but a panic in one file must not
	// stop a whole index run: it gives what was read before it.
	defer func() {
		if r := recover(); r != nil {
			info = Info{Format: format}
		}
	}()
	info.setEXIF(readEXIF(exifBlock(format, b), time.Local))
	if format != FormatRAW || info.Taken != 0 && (info.Make != "" || info.Model != "") {
		return info
	}
	jpg, _, err := rawPreview(b)
	if err != nil {
		return info
	}
	p := readEXIF(exifBlock(FormatJPEG, jpg), time.Local)
	if info.Taken == 0 {
		info.Taken, info.TakenAt = p.Taken, p.TakenAt
	}
	if info.Make == "" && info.Model == "" {
		info.Make, info.Model = p.Make, p.Model
	}
	return info
}

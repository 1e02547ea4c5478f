package extractor

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/simsearch/simsearch/model"
)

// DefaultMaxPixels is the decode limit when none is set: 100 megapixels.
const DefaultMaxPixels = 100_000_000

// maxSide refuses headers whose longer side no camera or scanner writes,
// whatever MaxPixels says: such a file is damaged or hostile.
const maxSide = 1 << 20

// DecodeOptions configure decoding. A nil *DecodeOptions means defaults.
type DecodeOptions struct {
	// MaxPixels refuses images whose header declares more pixels, before
	// any pixel memory is allocated; 0 means DefaultMaxPixels.
	MaxPixels int64

	// MaxBytes refuses files larger than this in DecodeFile (and the
	// Extractor's file sources), before they are read; 0 means
	// DefaultMaxBytes. See ReadImage.
	MaxBytes int64

	// MinSide, when positive, lets the decoder shrink the image by an
	// integer factor (a box filter, fused with the colour conversion) as
	// long as its shorter side stays at least MinSide. Pass
	// MinSideFor(pre) to get the pixels Tensor needs, and no more: Tensor
	// would box-filter down to that size anyway, so the result is the same
	// and a 12 MP photo is never held at full size in RGB.
	MinSide int

	// DCTMinSide, when positive, is the shorter side libjpeg's DCT
	// scaling may go down to instead of MinSide. A reduced inverse DCT
	// drops the high frequencies (a low-pass of its own, not pixels for
	// Tensor's box filter to average), so it can stop at the resize
	// target, DCTMinSideFor(pre): a 2 MP photo then decodes at 1/4, not
	// 1/2, for 3 of its 19 core-ms and a 12 MP one for 25 of 81
	// (BenchmarkDecodeStages), with feature maps at cosine ≥ 0.9998 to
	// the larger scale's (TestMeasure_DecodeScale). A remaining integer
	// factor is still bounded by MinSide.
	DCTMinSide int

	// Name, when set, is the file's name. It is used only to tell camera
	// raw files whose container is a plain TIFF (.nef, .arw, .pef, .dng,
	// ... by their extension; see RawExtension) from TIFF images, which
	// content alone cannot always do. DecodeFile sets it.
	Name string
}

// Info describes a decoded image.
type Info struct {
	Format      string `json:"format"`
	Width       int    `json:"width"`                 // of the original image, after EXIF orientation
	Height      int    `json:"height"`                // of the original image, after EXIF orientation
	Orientation int    `json:"orientation,omitempty"` // EXIF orientation applied, 1..8
	// Taken is the capture time from EXIF DateTimeOriginal in unix
	// nanoseconds, 0 when unknown; a date without OffsetTimeOriginal is
	// read in the local time zone.
	Taken int64 `json:"taken_ns,omitempty"`
	// TakenAt is the same capture time as EXIF wrote it, in RFC 3339:
	// with its offset when OffsetTimeOriginal gave one, and without a zone
	// ("2019-05-02T10:11:12", the camera's wall clock) when the zone is
	// unknown; "" when there is no capture time.
	TakenAt string `json:"taken,omitempty"`
	Make    string `json:"camera_make,omitempty"`  // EXIF Make, "" when unknown
	Model   string `json:"camera_model,omitempty"` // EXIF Model, "" when unknown
}

// setEXIF copies what EXIF says about the capture into info.
func (info *Info) setEXIF(m exifMeta) {
	info.Taken, info.TakenAt, info.Make, info.Model = m.Taken, m.TakenAt, m.Make, m.Model
}

// RGB is a decoded, oriented image with 3 bytes per pixel, row-major,
// alpha already composited over white.
type RGB struct {
	W, H int
	Pix  []uint8
}

// DecodeFile reads the image file at path with ReadImage's guards (regular
// files only, at most MaxBytes, content sniffed before the rest is read)
// and decodes it; see DecodeBytes.
func DecodeFile(path string, opts *DecodeOptions) (*RGB, Info, error) {
	var maxBytes int64
	if opts != nil {
		maxBytes = opts.MaxBytes
	}
	b, _, err := ReadImage(path, maxBytes)
	if err != nil {
		return nil, Info{}, fmt.Errorf("read %s: %w", path, err)
	}
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	o.Name = path
	img, info, err := DecodeBytes(b, &o)
	if err != nil {
		return nil, info, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, info, nil
}

// Decode reads r to the end and decodes it; see DecodeBytes.
func Decode(r io.Reader, opts *DecodeOptions) (*RGB, Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, Info{}, fmt.Errorf("read image: %w", err)
	}
	return DecodeBytes(b, opts)
}

// DecodeBytes decodes an image held in memory. The format is detected from
// the content (Sniff), never a name; the header is read first and an image
// declaring more than MaxPixels pixels is refused with ErrTooLarge before
// any pixel is decoded; GIFs give their first frame; the EXIF orientation
// (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0) is applied and the capture
// time and camera read from the same block (for HEIC and AVIF, their Exif
// item) into Info; grey, palette,
// CMYK/YCCK and 16-bit images become 8-bit RGB and alpha is composited
// over white.
//
// HEIC and AVIF files are decoded by libheif (or the pure-Go fallback,
// see HEIFDecoder), which applies their rotation and mirror boxes; camera
// raw files by their largest embedded JPEG preview (see decodeRAW).
//
// Errors wrap ErrNotImage, ErrUnsupported, ErrTooLarge, ErrCorrupt or
// ErrNoPreview.
func DecodeBytes(b []byte, opts *DecodeOptions) (img *RGB, info Info, err error) {
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	format := Sniff(b)
	if format == FormatTIFF && RawExtension(o.Name) {
		format = FormatRAW
	}
	info.Format = format
	cfgFn, decFn := codec(format)
	switch {
	case len(b) == 0:
		return nil, info, fmt.Errorf("%w: empty file", ErrNotImage)
	case format == "":
		return nil, info, ErrNotImage
	case decFn == nil && format != FormatHEIC && format != FormatAVIF && format != FormatRAW:
		return nil, info, fmt.Errorf("%w %s", ErrUnsupported, format)
	}
	info.setEXIF(readEXIF(exifBlock(format, b), time.Local))
	// Decoders of hostile input have panicked before and may again; one
	// bad file must not take a whole indexing run down.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: %s decoder panicked: %v", ErrCorrupt, format, r)
		}
	}()
	switch format {
	case FormatHEIC, FormatAVIF:
		return decodeHEIF(b, o, info)
	case FormatRAW:
		return decodeRAW(b, o, info)
	}
	if format == FormatJPEG && libjpegAvailable {
		return decodeLibjpeg(b, o, info)
	}
	cfg, err := cfgFn(bytes.NewReader(b))
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s header: %w", ErrCorrupt, format, unprefixed{format, err})
	}
	if err := checkSize(cfg.Width, cfg.Height, o.MaxPixels); err != nil {
		return nil, info, err
	}
	m, err := decFn(bytes.NewReader(b))
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s: %w", ErrCorrupt, format, unprefixed{format, err})
	}
	if r := m.Bounds(); r.Empty() || int64(r.Dx())*int64(r.Dy()) > o.MaxPixels {
		// A frame other than the header said: never trust one over the other.
		return nil, info, fmt.Errorf("%w: %s frame is %d×%d", ErrCorrupt, format, r.Dx(), r.Dy())
	}
	info.Orientation = exifOrientation(format, b)
	img = toRGB(m, shrinkFactor(m.Bounds().Dx(), m.Bounds().Dy(), o.MinSide))
	img = orient(img, info.Orientation)
	info.Width, info.Height = m.Bounds().Dx(), m.Bounds().Dy()
	if info.Orientation >= 5 {
		info.Width, info.Height = info.Height, info.Width
	}
	return img, info, nil
}

// decodeRAW decodes the largest JPEG preview of a camera raw file (see
// rawPreview). The raw file's own orientation applies when the preview
// carries none; Info has the preview's size, which is what was indexed,
// and the raw file's capture time and camera (the preview's when the raw
// file has none).
func decodeRAW(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	jpg, rawOrient, err := rawPreview(b)
	if err != nil {
		return nil, info, err
	}
	img, pinfo, err := DecodeBytes(jpg, &o)
	if err != nil {
		return nil, info, fmt.Errorf("%w: preview: %w", ErrNoPreview, err)
	}
	info.Width, info.Height, info.Orientation = pinfo.Width, pinfo.Height, pinfo.Orientation
	if pinfo.Orientation <= 1 && rawOrient > 1 {
		img = orient(img, rawOrient)
		info.Orientation = rawOrient
		if rawOrient >= 5 {
			info.Width, info.Height = info.Height, info.Width
		}
	}
	// CR3 and RAF are no TIFF, and some raw files keep EXIF only in
	// their preview.
	if info.Taken == 0 {
		info.Taken, info.TakenAt = pinfo.Taken, pinfo.TakenAt
	}
	if info.Make == "" && info.Model == "" {
		info.Make, info.Model = pinfo.Make, pinfo.Model
	}
	return img, info, nil
}

// checkSize refuses zero, negative and oversized dimensions.
func checkSize(w, h int, maxPixels int64) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("%w: header declares %d×%d pixels", ErrCorrupt, w, h)
	case w > maxSide || h > maxSide:
		return fmt.Errorf("%w: %d×%d has a side over %d pixels", ErrTooLarge, w, h, maxSide)
	}
	if px := int64(w) * int64(h); px > maxPixels {
		return fmt.Errorf("%w: %d×%d is %.1f MP, the limit is %.1f MP",
			ErrTooLarge, w, h, float64(px)/1e6, float64(maxPixels)/1e6)
	}
	return nil
}

// codec returns the header and image decoders of a format, nil for formats
// that are recognised but not decoded. Each format's decoder is called
// directly, so nothing is registered with image.RegisterFormat and the
// package's behaviour does not depend on what else the binary imports.
func codec(format string) (func(io.Reader) (image.Config, error), func(io.Reader) (image.Image, error)) {
	switch format {
	case FormatJPEG:
		return jpeg.DecodeConfig, jpeg.Decode
	case FormatPNG:
		return png.DecodeConfig, png.Decode
	case FormatGIF:
		return gif.DecodeConfig, gif.Decode // gif.Decode stops after the first frame
	case FormatBMP:
		return bmp.DecodeConfig, bmp.Decode
	case FormatTIFF:
		return tiff.DecodeConfig, tiff.Decode
	case FormatWebP:
		return webp.DecodeConfig, webp.Decode
	}
	return nil, nil
}

// MinSideFor returns the value of DecodeOptions.MinSide that gives Tensor
// exactly the pixels it would keep after its own box filter: twice the
// side the resize targets.
func MinSideFor(pre model.Preprocess) int {
	if pre.Resize == model.ResizeSquash {
		return 2 * pre.Size
	}
	return 2 * max(pre.ResizeShorter, pre.Size)
}

// DCTMinSideFor returns the value of DecodeOptions.DCTMinSide for pre:
// the side its resize targets.
func DCTMinSideFor(pre model.Preprocess) int {
	if pre.Resize == model.ResizeSquash {
		return pre.Size
	}
	return max(pre.ResizeShorter, pre.Size)
}

// shrinkFactor is the largest integer factor that keeps the shorter side
// of a w×h image at least minSide; 1 means no shrink.
func shrinkFactor(w, h, minSide int) int {
	if minSide <= 0 {
		return 1
	}
	return max(1, min(w, h)/minSide)
}

// unprefixed is a decoder's error without the "png: " its package puts in
// front, which the caller says already.
type unprefixed struct {
	format string
	err    error
}

func (u unprefixed) Error() string {
	return strings.TrimPrefix(u.err.Error(), u.format+": ")
}

func (u unprefixed) Unwrap() error { return u.err }

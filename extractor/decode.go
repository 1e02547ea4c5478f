package extractor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Documented decode errors; test them with errors.Is.
var (
	// ErrTooLarge: the header declares more pixels than the limit.
	ErrTooLarge = errors.New("image too large")
	// ErrUnsupported: an image format simsearch does not decode (HEIC, AVIF, ...).
	ErrUnsupported = errors.New("unsupported image format")
	// ErrNotImage: the content is not a recognised image at all.
	ErrNotImage = errors.New("not an image")
)

// DefaultMaxPixels is the decode limit when none is set: 100 megapixels.
const DefaultMaxPixels = 100_000_000

// DecodeOptions configure decoding. nil means defaults.
type DecodeOptions struct {
	MaxPixels int64 // refuse images declaring more pixels; 0 means DefaultMaxPixels
}

// Info describes a decoded image.
type Info struct {
	Format      string `json:"format"`
	Width       int    `json:"width"`  // after EXIF orientation
	Height      int    `json:"height"` // after EXIF orientation
	Orientation int    `json:"orientation,omitempty"`
}

// RGB is a decoded, oriented image with 3 bytes per pixel, alpha already
// composited over white.
type RGB struct {
	W, H int
	Pix  []uint8
}

// Sniff names the image format of a file from its first bytes: "jpeg",
// "png", "gif", "bmp", "tiff", "webp", or one of the unsupported image
// formats ("heic", "avif", "jxl", "svg", "psd"), or "".
func Sniff(head []byte) string {
	has := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return "jpeg"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "gif"
	case has(0, "BM"):
		return "bmp"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "tiff"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp"
	case has(4, "ftypheic"), has(4, "ftypheix"), has(4, "ftypmif1"), has(4, "ftypmsf1"), has(4, "ftypheif"):
		return "heic"
	case has(4, "ftypavif"), has(4, "ftypavis"):
		return "avif"
	case has(0, "\xff\x0a"), has(0, "\x00\x00\x00\x0cJXL \r\n\x87\n"):
		return "jxl"
	case has(0, "8BPS"):
		return "psd"
	case has(0, "<svg"), has(0, "<?xml"):
		return "svg"
	}
	return ""
}

type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var codecs = map[string]codec{
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"png":  {png.DecodeConfig, png.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode}, // first frame
	"bmp":  {bmp.DecodeConfig, bmp.Decode},
	"tiff": {tiff.DecodeConfig, tiff.Decode},
	"webp": {webp.DecodeConfig, webp.Decode},
}

// DecodeFile reads and decodes the image file at path.
func DecodeFile(path string, opts *DecodeOptions) (*RGB, Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Info{}, err
	}
	return DecodeBytes(b, opts)
}

// DecodeBytes decodes an image held in memory: the format is detected
// from the content, the pixel limit is checked from the header before any
// pixel is decoded, EXIF orientation is applied and alpha is composited
// over white.
func DecodeBytes(b []byte, opts *DecodeOptions) (img *RGB, info Info, err error) {
	max := int64(DefaultMaxPixels)
	if opts != nil && opts.MaxPixels > 0 {
		max = opts.MaxPixels
	}
	format := Sniff(b)
	info.Format = format
	c, ok := codecs[format]
	switch {
	case format == "":
		if len(b) == 0 {
			return nil, info, fmt.Errorf("%w: empty file", ErrNotImage)
		}
		return nil, info, ErrNotImage
	case !ok:
		return nil, info, fmt.Errorf("%w: %s", ErrUnsupported, format)
	}
	// Decoders of malformed input have panicked before (and may again);
	// one bad file must not take the run down.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decode %s: malformed image (%v)", format, r)
		}
	}()
	cfg, err := c.config(bytes.NewReader(b))
	if err != nil {
		return nil, info, fmt.Errorf("decode %s header: %w", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, info, fmt.Errorf("decode %s: invalid size %d×%d", format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > max {
		return nil, info, fmt.Errorf("%w: %d×%d is %.0f MP, the limit is %.0f MP", ErrTooLarge, cfg.Width, cfg.Height, float64(px)/1e6, float64(max)/1e6)
	}
	m, err := c.decode(bytes.NewReader(b))
	if err != nil {
		return nil, info, fmt.Errorf("decode %s: %w", format, err)
	}
	rgb := toRGB(m)
	info.Orientation = orientation(format, b)
	rgb = orient(rgb, info.Orientation)
	info.Width, info.Height = rgb.W, rgb.H
	return rgb, info, nil
}

// toRGB converts any decoded image to packed RGB, compositing alpha over
// white. Common types take fast paths.
func toRGB(m image.Image) *RGB {
	r := m.Bounds()
	w, h := r.Dx(), r.Dy()
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	p := out.Pix
	switch src := m.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := src.YOffset(r.Min.X+x, r.Min.Y+y)
				ci := src.COffset(r.Min.X+x, r.Min.Y+y)
				rr, gg, bb := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				o := 3 * (y*w + x)
				p[o], p[o+1], p[o+2] = rr, gg, bb
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+w]
			for x, v := range row {
				o := 3 * (y*w + x)
				p[o], p[o+1], p[o+2] = v, v, v
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			for x := 0; x < w; x++ {
				a := uint32(row[4*x+3])
				o := 3 * (y*w + x)
				// premultiplied: c + (255-a) gives "over white"
				p[o] = uint8(uint32(row[4*x]) + 255 - a)
				p[o+1] = uint8(uint32(row[4*x+1]) + 255 - a)
				p[o+2] = uint8(uint32(row[4*x+2]) + 255 - a)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			for x := 0; x < w; x++ {
				a := uint32(row[4*x+3])
				o := 3 * (y*w + x)
				p[o] = uint8((uint32(row[4*x])*a + 255*(255-a) + 127) / 255)
				p[o+1] = uint8((uint32(row[4*x+1])*a + 255*(255-a) + 127) / 255)
				p[o+2] = uint8((uint32(row[4*x+2])*a + 255*(255-a) + 127) / 255)
			}
		}
	default:
		// Paletted, CMYK, 16-bit and the rest: through the colour model,
		// premultiplied 16-bit, composited over white.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				cr, cg, cb, ca := m.At(r.Min.X+x, r.Min.Y+y).RGBA()
				o := 3 * (y*w + x)
				p[o] = uint8((cr + 0xffff - ca) >> 8)
				p[o+1] = uint8((cg + 0xffff - ca) >> 8)
				p[o+2] = uint8((cb + 0xffff - ca) >> 8)
			}
		}
	}
	return out
}

// orient applies EXIF orientation o (1..8) to img.
func orient(img *RGB, o int) *RGB {
	if o <= 1 || o > 8 {
		return img
	}
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, len(img.Pix))}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirror horizontal
				dx, dy = w-1-x, y
			case 3: // rotate 180
				dx, dy = w-1-x, h-1-y
			case 4: // mirror vertical
				dx, dy = x, h-1-y
			case 5: // transpose
				dx, dy = y, x
			case 6: // rotate 90 clockwise
				dx, dy = h-1-y, x
			case 7: // transverse
				dx, dy = h-1-y, w-1-x
			case 8: // rotate 90 counter-clockwise
				dx, dy = y, w-1-x
			}
			s, d := 3*(y*w+x), 3*(dy*ow+dx)
			copy(out.Pix[d:d+3], img.Pix[s:s+3])
		}
	}
	return out
}

// orientation returns the EXIF orientation tag (1..8) of a JPEG, TIFF or
// WebP file, or 0 when there is none.
func orientation(format string, b []byte) int {
	switch format {
	case "jpeg":
		return jpegOrientation(b)
	case "tiff":
		return tiffOrientation(b)
	case "webp":
		return webpOrientation(b)
	}
	return 0
}

func jpegOrientation(b []byte) int {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return 0
		}
		marker := b[i+1]
		if marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01 || marker == 0xff {
			i += 2
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan: no EXIF after this
			return 0
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 0
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xe1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 0
}

func webpOrientation(b []byte) int {
	for i := 12; i+8 <= len(b); {
		id := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || i+8+n > len(b) {
			return 0
		}
		if id == "EXIF" {
			d := b[i+8 : i+8+n]
			if len(d) > 6 && string(d[:6]) == "Exif\x00\x00" {
				d = d[6:]
			}
			return tiffOrientation(d)
		}
		i += 8 + n + n&1
	}
	return 0
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for k := 0; k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

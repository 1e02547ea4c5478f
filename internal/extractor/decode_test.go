package extractor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// hugeHeaders declare a 40000×40000 image in a few dozen bytes.
func hugeHeaders() map[string][]byte { return imagetest.HugeHeaders(40000) }

var (
	red   = [3]uint8{255, 0, 0}
	green = [3]uint8{0, 255, 0}
	blue  = [3]uint8{0, 0, 255}
	white = [3]uint8{255, 255, 255}
)

// quads is the expected colour of each quadrant: top left, top right,
// bottom left, bottom right.
type quads [4][3]uint8

var upright = quads{red, green, blue, white}

// quadImage draws the test picture: four solid quadrants, 32×16 each, so
// JPEG and VP8 blocks never straddle two colours.
func quadImage() *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, 64, 32))
	for y := range 32 {
		for x := range 64 {
			c := upright[2*(y/16)+x/32]
			m.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
		}
	}
	return m
}

// checkQuads checks the centre pixel of each quadrant of img within tol.
func checkQuads(t *testing.T, img *RGB, want quads, tol int) {
	t.Helper()
	names := [4]string{"top left", "top right", "bottom left", "bottom right"}
	for q := range 4 {
		x := img.W/4 + (q%2)*img.W/2
		y := img.H/4 + (q/2)*img.H/2
		got := img.Pix[3*(y*img.W+x) : 3*(y*img.W+x)+3]
		for c := range 3 {
			if d := int(got[c]) - int(want[q][c]); d > tol || d < -tol {
				t.Errorf("%s pixel (%d,%d) = %v, want %v ± %d", names[q], x, y, got, want[q], tol)
				break
			}
		}
	}
}

func encode(t testing.TB, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB, m image.Image) []byte {
	return encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, m, &jpeg.Options{Quality: 95}) })
}

func pngOf(t testing.TB, m image.Image) []byte {
	return encode(t, func(b *bytes.Buffer) error { return png.Encode(b, m) })
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// convertImage redraws the quad picture in another image type.
func convertImage[T draw](dst T) T {
	src := quadImage()
	for y := range 32 {
		for x := range 64 {
			dst.Set(x, y, src.At(x, y))
		}
	}
	return dst
}

type draw interface {
	image.Image
	Set(x, y int, c color.Color)
}

func TestDecode_Formats(t *testing.T) {
	quad := quadImage()
	pal := convertImage(image.NewPaletted(quad.Rect, palette.Plan9))
	tests := []struct {
		name   string
		data   func(testing.TB) []byte
		format string
		tol    int
	}{
		{"jpeg", func(t testing.TB) []byte { return jpegOf(t, quad) }, "jpeg", 12},
		{"jpeg grey", func(t testing.TB) []byte { return jpegOf(t, convertImage(image.NewGray(quad.Rect))) }, "jpeg", -1},
		{"jpeg ycck", func(t testing.TB) []byte { return fixture(t, "ycck.jpg") }, "jpeg", 12},
		{"png rgba", func(t testing.TB) []byte { return pngOf(t, quad) }, "png", 0},
		{"png 16-bit", func(t testing.TB) []byte { return pngOf(t, convertImage(image.NewRGBA64(quad.Rect))) }, "png", 0},
		{"png palette", func(t testing.TB) []byte { return pngOf(t, pal) }, "png", 0},
		{"gif", func(t testing.TB) []byte {
			return encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) })
		}, "gif", 0},
		{"bmp", func(t testing.TB) []byte {
			return encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, quad) })
		}, "bmp", 0},
		{"tiff", func(t testing.TB) []byte {
			return encode(t, func(b *bytes.Buffer) error { return tiff.Encode(b, quad, nil) })
		}, "tiff", 0},
		{"tiff 16-bit lzw", func(t testing.TB) []byte { return fixture(t, "rgb16.tif") }, "tiff", 0},
		{"webp lossy", func(t testing.TB) []byte { return fixture(t, "lossy.webp") }, "webp", 20},
		{"webp lossless", func(t testing.TB) []byte { return fixture(t, "lossless.webp") }, "webp", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, info, err := DecodeBytes(tt.data(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.format || info.Width != 64 || info.Height != 32 || img.W != 64 || img.H != 32 {
				t.Fatalf("info %+v, image %d×%d; want %s 64×32", info, img.W, img.H, tt.format)
			}
			if tt.tol < 0 { // grey: each quadrant's luma in R, G and B
				checkQuads(t, img, quads{{76, 76, 76}, {150, 150, 150}, {29, 29, 29}, {255, 255, 255}}, 3)
				return
			}
			checkQuads(t, img, upright, tt.tol)
		})
	}
}

func TestDecode_AlphaOverWhite(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		want [3]uint8
	}{
		{"nrgba half red", fill(image.NewNRGBA(image.Rect(0, 0, 4, 4)), color.NRGBA{255, 0, 0, 128}), [3]uint8{255, 127, 127}},
		{"nrgba transparent", fill(image.NewNRGBA(image.Rect(0, 0, 4, 4)), color.NRGBA{10, 20, 30, 0}), white},
		{"nrgba64 half blue", fill(image.NewNRGBA64(image.Rect(0, 0, 4, 4)), color.NRGBA64{0, 0, 0xffff, 0x8000}), [3]uint8{127, 127, 255}},
		{"grey+alpha", fill(image.NewNRGBA(image.Rect(0, 0, 4, 4)), color.NRGBA{0, 0, 0, 64}), [3]uint8{191, 191, 191}},
		{"palette transparent index", func() image.Image {
			m := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.NRGBA{0, 0, 0, 0}, color.NRGBA{0, 0, 255, 255}})
			return m // every pixel index 0: fully transparent
		}(), white},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := DecodeBytes(pngOf(t, tt.img), nil)
			if err != nil {
				t.Fatal(err)
			}
			for c := range 3 {
				if d := int(img.Pix[c]) - int(tt.want[c]); d > 1 || d < -1 {
					t.Fatalf("pixel %v, want %v", img.Pix[:3], tt.want)
				}
			}
		})
	}
}

func fill[T draw](m T, c color.Color) T {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			m.Set(x, y, c)
		}
	}
	return m
}

func TestDecode_GIFFirstFrame(t *testing.T) {
	r := image.Rect(0, 0, 8, 8)
	p := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	first, second := image.NewPaletted(r, p), image.NewPaletted(r, p)
	fill(second, p[1])
	data := encode(t, func(b *bytes.Buffer) error {
		return gif.EncodeAll(b, &gif.GIF{Image: []*image.Paletted{first, second}, Delay: []int{10, 10}})
	})
	img, _, err := DecodeBytes(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := [3]uint8(img.Pix[:3]); got != red {
		t.Fatalf("pixel %v, want the first frame's red", got)
	}
}

// exifTIFF returns a TIFF-structured EXIF block whose IFD0 holds a
// resolution tag and then the orientation, as cameras write it.
func exifTIFF(bo binary.AppendByteOrder, orientation uint16) []byte {
	var b []byte
	if bo == binary.LittleEndian {
		b = []byte("II*\x00")
	} else {
		b = []byte("MM\x00*")
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, 2) // entries
	// XResolution RATIONAL, value at offset 38
	b = bo.AppendUint16(b, 0x011A)
	b = bo.AppendUint16(b, 5)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint32(b, 38)
	// Orientation SHORT 1, inline
	b = bo.AppendUint16(b, tagOrientation)
	b = bo.AppendUint16(b, typeShort)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint16(b, orientation)
	b = bo.AppendUint16(b, 0)
	b = bo.AppendUint32(b, 0) // no next IFD
	b = bo.AppendUint32(b, 72)
	return bo.AppendUint32(b, 1)
}

// withAPP1 inserts an APP1 Exif segment (after an APP0, as cameras do)
// into a JPEG.
func withAPP1(jpg, tiffBlock []byte) []byte {
	app0 := []byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiffBlock...)
	app1 := append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	out := append([]byte{0xFF, 0xD8}, app0...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

// orientations says, for each EXIF value, which stored quadrant shows in
// each displayed corner, written from the EXIF spec's row/column wording
// rather than from the implementation's index arithmetic.
var orientations = []struct {
	o    int
	want quads
}{
	{1, quads{red, green, blue, white}},
	{2, quads{green, red, white, blue}}, // mirrored left-right
	{3, quads{white, blue, green, red}}, // rotated 180°
	{4, quads{blue, white, red, green}}, // mirrored top-bottom
	{5, quads{red, blue, green, white}}, // row 0 is the left side, column 0 the top
	{6, quads{blue, red, white, green}}, // row 0 is the right side, column 0 the top
	{7, quads{white, green, blue, red}}, // row 0 is the right side, column 0 the bottom
	{8, quads{green, white, red, blue}}, // row 0 is the left side, column 0 the bottom
}

func TestDecode_EXIFOrientationJPEG(t *testing.T) {
	base := jpegOf(t, quadImage())
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tt := range orientations {
			t.Run(bo.String()+"/"+string(rune('0'+tt.o)), func(t *testing.T) {
				img, info, err := DecodeBytes(withAPP1(base, exifTIFF(bo, uint16(tt.o))), nil)
				if err != nil {
					t.Fatal(err)
				}
				w, h := 64, 32
				if tt.o >= 5 {
					w, h = 32, 64
				}
				if info.Orientation != tt.o || info.Width != w || info.Height != h || img.W != w || img.H != h {
					t.Fatalf("info %+v, image %d×%d; want orientation %d, %d×%d", info, img.W, img.H, tt.o, w, h)
				}
				checkQuads(t, img, tt.want, 12)
			})
		}
	}
}

func TestDecode_OrientationInOtherContainers(t *testing.T) {
	// PNG with an eXIf chunk after IHDR (and one written after IDAT,
	// which some tools do).
	p := pngOf(t, quadImage())
	chunk := func(typ string, data []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		c = append(c, typ...)
		c = append(c, data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	ihdrEnd := 8 + 8 + 13 + 4
	early := bytes.Join([][]byte{p[:ihdrEnd], chunk("eXIf", exifTIFF(binary.BigEndian, 3)), p[ihdrEnd:]}, nil)
	iend := len(p) - 12
	late := bytes.Join([][]byte{p[:iend], chunk("eXIf", exifTIFF(binary.LittleEndian, 6)), p[iend:]}, nil)
	tests := []struct {
		name string
		data []byte
		o    int
		tol  int
	}{
		{"png eXIf", early, 3, 0},
		{"png eXIf after IDAT", late, 6, 0},
		{"tiff IFD0", fixture(t, "orient6.tif"), 6, 0},
		{"webp EXIF chunk", fixture(t, "orient8.webp"), 8, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, info, err := DecodeBytes(tt.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Orientation != tt.o {
				t.Fatalf("orientation %d, want %d", info.Orientation, tt.o)
			}
			checkQuads(t, img, orientations[tt.o-1].want, tt.tol)
		})
	}
}

func TestDecodeFile_FormatFromContentNotName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "holiday.jpg")
	if err := os.WriteFile(path, pngOf(t, quadImage()), 0o644); err != nil {
		t.Fatal(err)
	}
	img, info, err := DecodeFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "png" {
		t.Fatalf("format %q, want png", info.Format)
	}
	checkQuads(t, img, upright, 0)

	txt := filepath.Join(t.TempDir(), "notes.png")
	if err := os.WriteFile(txt, []byte("shopping list: milk, eggs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeFile(txt, nil); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), txt) {
		t.Fatalf("text file named .png: %v, want ErrNotImage naming the path", err)
	}
}

func TestDecode_PixelLimitFromHeader(t *testing.T) {
	for format, data := range hugeHeaders() {
		t.Run(format, func(t *testing.T) {
			if got := Sniff(data); got != format {
				t.Fatalf("test header sniffs as %q", got)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, info, err := DecodeBytes(data, nil)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "40000×40000") || info.Format != format {
				t.Errorf("err %q, info %+v: want the size and format reported", err, info)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("refusing a header allocated %d bytes", alloc)
			}
		})
	}
}

func TestDecode_LimitsAndBadSizes(t *testing.T) {
	small := pngOf(t, quadImage()) // 2048 pixels
	if _, _, err := DecodeBytes(small, &DecodeOptions{MaxPixels: 2047}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2048 px over a 2047 px limit: %v, want ErrTooLarge", err)
	}
	if _, _, err := DecodeBytes(small, &DecodeOptions{MaxPixels: 2048}); err != nil {
		t.Errorf("2048 px at a 2048 px limit: %v", err)
	}
	zero := hugeHeaders()["gif"]
	zero = append(append([]byte{}, zero[:6]...), 0, 0, 5, 0, 0, 0, 0)
	if _, _, err := DecodeBytes(zero, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("0×5 gif: %v, want ErrCorrupt", err)
	}
	long := hugeHeaders()["webp"] // 1<<21 × 1 is 2 MP but no real image
	copy(long[24:], []byte{0xff, 0xff, 0x1f, 0, 0, 0})
	if _, _, err := DecodeBytes(long, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2097152×1 webp: %v, want ErrTooLarge", err)
	}
}

func TestDecode_Unsupported(t *testing.T) {
	tests := []struct{ format, head string }{
		{"jxl", "\xff\x0a\xfa\x7f"},
		{"jpeg2000", "\x00\x00\x00\x0cjP  \r\n\x87\n"},
		{"svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"},
		{"svg", "<?xml version=\"1.0\"?>\n<!-- drawn -->\n<svg width=\"10\"></svg>"},
		{"psd", "8BPS\x00\x01"},
		{"pdf", "%PDF-1.7\n"},
	}
	for _, tt := range tests {
		_, info, err := DecodeBytes([]byte(tt.head), nil)
		if !errors.Is(err, ErrUnsupported) || err.Error() != "unsupported format "+tt.format || info.Format != tt.format {
			t.Errorf("%q: %v (format %q), want \"unsupported format %s\"", tt.head[:12], err, info.Format, tt.format)
		}
	}
	// A DNG: a TIFF whose IFD0 carries DNGVersion.
	dng := []byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\xc6\x01\x00\x04\x00\x00\x00\x01\x04\x00\x00\x00\x00\x00\x00")
	if got := Sniff(dng); got != "raw" {
		t.Errorf("DNG sniffs as %q, want raw", got)
	}
}

func TestDecode_GarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if _, _, err := DecodeBytes(b, nil); err == nil {
			t.Fatalf("random bytes #%d decoded", i)
		} else if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("random bytes #%d: %v, want one of the sentinels", i, err)
		}
	}
	if _, _, err := DecodeBytes(nil, nil); !errors.Is(err, ErrNotImage) {
		t.Errorf("empty input: %v, want ErrNotImage", err)
	}
	quad := quadImage()
	whole := map[string][]byte{
		"jpeg": jpegOf(t, quad),
		"png":  pngOf(t, quad),
		"gif":  encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, quad, nil) }),
		"bmp":  encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, quad) }),
		"tiff": encode(t, func(b *bytes.Buffer) error { return tiff.Encode(b, quad, &tiff.Options{Compression: tiff.Deflate}) }),
		"webp": fixture(t, "lossy.webp"),
	}
	for format, b := range whole {
		for _, cut := range []int{3, 12, 30, len(b) / 2, len(b) - 20} {
			_, _, err := DecodeBytes(b[:cut], nil)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotImage) {
				t.Errorf("%s cut to %d of %d bytes: %v, want ErrCorrupt or ErrNotImage", format, cut, len(b), err)
			}
		}
	}
}

func TestDecode_Reader(t *testing.T) {
	img, info, err := Decode(bytes.NewReader(pngOf(t, quadImage())), nil)
	if err != nil || info.Format != "png" {
		t.Fatalf("Decode: %v, %+v", err, info)
	}
	checkQuads(t, img, upright, 0)
}

func TestSniff(t *testing.T) {
	tests := map[string]string{
		"\xff\xd8\xff\xe0":             "jpeg",
		"\x89PNG\r\n\x1a\n":            "png",
		"GIF87a":                       "gif",
		"RIFF\x00\x00\x00\x00WEBPVP8 ": "webp",
		"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00": "bmp",
		"BMW is a car brand, not a bitmap":                                   "",
		"MM\x00*\x00\x00\x00\x08":                                            "tiff",
		"":                                                                   "",
		"\xff\xd8":                                                           "",
		"<html><body>hi</body></html>":                                       "",
		"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2": "", // an MP4 video
	}
	for head, want := range map[string]string{
		"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic":     "heic",
		"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic":     "heic",
		"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1":         "heic", // codec unsaid, no meta: libheif's default
		"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf": "avif",
		"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf": "avif",
		"\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00msf1avis":     "avif",
	} {
		tests[head] = want
	}
	for head, want := range tests {
		if got := Sniff([]byte(head)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", head, got, want)
		}
	}
}

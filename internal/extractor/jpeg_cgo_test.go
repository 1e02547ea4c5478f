//go:build cgo

package extractor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// jpegSeeds returns the JPEG variants in FuzzDecode's corpus, by name. They
// show one 96×64 photo-like picture (gradients, edges, a disc, noise),
// written by libjpeg 2.1.5's compressor at quality 90 in the layouts
// image/jpeg cannot write: YCbCr 4:2:0 (also with restart markers and
// progressive), 4:2:2, 4:4:4 (also progressive), grey (also progressive),
// Adobe CMYK and YCCK (inverted, as Adobe writes them; YCCK also
// progressive).
func jpegSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "jpeg-*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no JPEG seeds: %v", err)
	}
	seeds := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		// "go test fuzz v1\n[]byte(\"...\")\n"
		lines := strings.Split(string(b), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz corpus file", n)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		seeds[strings.TrimPrefix(filepath.Base(n), "jpeg-")] = []byte(s)
	}
	return seeds
}

// sameSizeDiff is meanAbsDiff after checking the sizes match.
func sameSizeDiff(t *testing.T, got, want *RGB) float64 {
	t.Helper()
	if got.W != want.W || got.H != want.H {
		t.Fatalf("%d×%d, want %d×%d", got.W, got.H, want.W, want.H)
	}
	return meanAbsDiff(got, want)
}

// lumaOf returns img's Rec. 601 luma as grey RGB.
func lumaOf(img *RGB) *RGB {
	out := &RGB{W: img.W, H: img.H, Pix: make([]uint8, len(img.Pix))}
	for i := 0; i < len(img.Pix); i += 3 {
		p := img.Pix[i : i+3]
		y := uint8((299*int(p[0]) + 587*int(p[1]) + 114*int(p[2]) + 500) / 1000)
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = y, y, y
	}
	return out
}

// TestLibjpeg_MatchesImageJPEG compares libjpeg's decode with image/jpeg's
// at full size and, at 1/2, 1/4 and 1/8 DCT scale, with image/jpeg's
// decode box-filtered by the same factor (what the pure-Go build gives).
func TestLibjpeg_MatchesImageJPEG(t *testing.T) {
	for name, data := range jpegSeeds(t) {
		m, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: image/jpeg: %v", name, err)
		}
		w, h := m.Bounds().Dx(), m.Bounds().Dy()
		for _, denom := range []int{1, 2, 4, 8} {
			minSide := 0
			if denom > 1 {
				minSide = min(w, h) / denom
			}
			if got := jpegScale(w, h, minSide); got != denom {
				t.Fatalf("jpegScale(%d, %d, %d) = %d, want %d", w, h, minSide, got, denom)
			}
			img, info, err := DecodeBytes(data, &DecodeOptions{MinSide: minSide})
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", name, denom, err)
			}
			if info.Width != w || info.Height != h {
				t.Errorf("%s at 1/%d: info %+v, want the full %d×%d", name, denom, info, w, h)
			}
			// libjpeg's reduced IDCTs are not exactly box filters.
			want, limit := toRGB(m, denom), 3.0
			if denom > 1 && strings.HasPrefix(name, "ycc422") {
				// Scaled 4:2:2 keeps the file's chroma resolution, half
				// the luma's across, where the box filter of a full
				// decode has chroma at every output pixel: compare luma.
				img, want = lumaOf(img), lumaOf(want)
			}
			if d := sameSizeDiff(t, img, want); d > limit {
				t.Errorf("%s at 1/%d: mean difference %.2f levels from image/jpeg, want ≤ %.0f", name, denom, d, limit)
			} else {
				t.Logf("%s at 1/%d: mean difference %.2f", name, denom, d)
			}
		}
	}
}

// TestLibjpeg_ScaleThenShrink checks that a shrink beyond 1/8 is finished
// by the box filter, and that EXIF orientation applies to the result while
// Info keeps the full upright size.
func TestLibjpeg_ScaleThenShrink(t *testing.T) {
	data := jpegSeeds(t)["ycc444"]
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	img, info, err := DecodeBytes(data, &DecodeOptions{MinSide: 3}) // 1/8: 12×8, then 2: 6×4
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 96 || info.Height != 64 {
		t.Errorf("info %+v, want 96×64", info)
	}
	if d := sameSizeDiff(t, img, toRGB(m, 16)); d > 4 {
		t.Errorf("mean difference %.2f levels from image/jpeg shrunk by 16", d)
	}
	rotated, info, err := DecodeBytes(withAPP1(data, exifTIFF(binary.BigEndian, 6)), &DecodeOptions{MinSide: 3})
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 64 || info.Height != 96 || info.Orientation != 6 {
		t.Errorf("orientation 6: info %+v, want 64×96", info)
	}
	if d := sameSizeDiff(t, rotated, orient(img, 6)); d != 0 {
		t.Errorf("orientation 6: differs from the upright decode turned (%.2f)", d)
	}
}

// TestLibjpeg_DamagedIsCorrupt cuts every seed at every length and damages
// its entropy data: never a crash, and a truncated file is corrupt, as in
// the pure-Go build, not painted grey where the data ran out.
func TestLibjpeg_DamagedIsCorrupt(t *testing.T) {
	for name, data := range jpegSeeds(t) {
		// Without only its EOI marker a file has all its pixels and may
		// decode; any shorter cut loses entropy data.
		cuts := []int{len(data) - 3}
		for cut := 3; cut < len(data)-3; cut += 7 {
			cuts = append(cuts, cut)
		}
		for _, cut := range cuts {
			for _, minSide := range []int{0, 8} {
				_, _, err := DecodeBytes(data[:cut], &DecodeOptions{MinSide: minSide})
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotImage) {
					t.Fatalf("%s cut to %d of %d bytes (min side %d): %v, want ErrCorrupt", name, cut, len(data), minSide, err)
				}
			}
		}
		// Garbage from the middle on: any outcome but a crash or an
		// error without a sentinel.
		bad := bytes.Clone(data)
		for i := len(bad) / 2; i < len(bad)-2; i++ {
			bad[i] = byte(i * 131)
		}
		if _, _, err := DecodeBytes(bad, nil); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s with garbage entropy data: %v", name, err)
		}
	}
	_, _, err := DecodeBytes([]byte("\xff\xd8\xff\xe0 not really a JPEG at all"), nil)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "jpeg") {
		t.Errorf("garbage after SOI: %v, want ErrCorrupt naming jpeg", err)
	}
}

// TestLibjpeg_HeaderBomb declares 65000×65000 pixels in a valid header:
// refused from the header, before libjpeg allocates its buffers.
func TestLibjpeg_HeaderBomb(t *testing.T) {
	data := bytes.Clone(jpegSeeds(t)["ycc420-progressive"])
	sof := bytes.Index(data, []byte{0xff, 0xc2})
	if sof < 0 {
		t.Fatal("no SOF2")
	}
	binary.BigEndian.PutUint16(data[sof+5:], 65000) // height
	binary.BigEndian.PutUint16(data[sof+7:], 65000) // width
	var err error
	allocs := testing.AllocsPerRun(10, func() { _, _, err = DecodeBytes(data, nil) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "65000×65000") {
		t.Fatalf("err %v, want ErrTooLarge naming 65000×65000", err)
	}
	if allocs > 20 {
		t.Errorf("refusing the header took %.0f allocations", allocs)
	}
	// A size within MaxPixels that libjpeg cannot decode is too large too.
	binary.BigEndian.PutUint16(data[sof+5:], 2)
	binary.BigEndian.PutUint16(data[sof+7:], 65535)
	if _, _, err := DecodeBytes(data, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("65535×2: %v, want ErrTooLarge", err)
	}
}

// TestLibjpeg_TooManyScans repeats a progressive file's first scan until
// it has more scans than any encoder writes.
func TestLibjpeg_TooManyScans(t *testing.T) {
	data := jpegSeeds(t)["ycc420-progressive"]
	sos := bytes.Index(data, []byte{0xff, 0xda})
	next := sos + 2 + bytes.Index(data[sos+2:], []byte{0xff, 0xc4}) // the next DHT
	if sos < 0 || next < sos+2 {
		t.Fatal("no scan")
	}
	var b bytes.Buffer
	b.Write(data[:next])
	for range jpegMaxScans {
		b.Write(data[sos:next])
	}
	b.Write(data[next:])
	_, _, err := DecodeBytes(b.Bytes(), nil)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "scans") {
		t.Fatalf("%d scans: %v, want ErrCorrupt about scans", jpegMaxScans+10, err)
	}
}

// TestLibjpeg_DCTMinSide: with the extractor's options for a 224 crop of
// the shorter side resized to 256, a 2 MP JPEG decodes at 1/4 (480×270:
// DCT scaling stops at the resize target, not at twice it), and the
// tensor from it stays within a pixel level on average of the tensor
// from the 1/2 decode that MinSide alone allows (measured 0.57 levels on
// this photo-like picture).
func TestLibjpeg_DCTMinSide(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photoLike(1920, 1080), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	pre := vgg16Pre()
	small, _, err := DecodeBytes(buf.Bytes(), &DecodeOptions{MinSide: MinSideFor(pre), DCTMinSide: DCTMinSideFor(pre)})
	if err != nil {
		t.Fatal(err)
	}
	big, _, err := DecodeBytes(buf.Bytes(), &DecodeOptions{MinSide: MinSideFor(pre)})
	if err != nil {
		t.Fatal(err)
	}
	if small.W != 480 || small.H != 270 || big.W != 960 || big.H != 540 {
		t.Fatalf("decoded %d×%d with DCTMinSide and %d×%d without, want 480×270 and 960×540", small.W, small.H, big.W, big.H)
	}
	a, b := tensorOf(t, small, pre), tensorOf(t, big, pre)
	var sum float64
	for i := range a {
		sum += math.Abs(float64(a[i] - b[i]))
	}
	levels := sum / float64(len(a)) * 255 * 0.226 // tensor units to pixel levels (std ≈ 0.226)
	t.Logf("mean difference %.2f pixel levels", levels)
	if levels > 1 {
		t.Errorf("tensor from the 1/4 decode differs from the 1/2 decode's by %.2f pixel levels on average, want ≤ 1", levels)
	}
}

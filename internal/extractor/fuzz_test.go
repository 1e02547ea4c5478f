package extractor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/gif"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/simsearch/simsearch/model"
)

// FuzzDecode feeds arbitrary bytes to DecodeBytes with a small pixel limit
// (so the fuzzer explores parsers, not memory) and checks the contract: a
// sentinel error or a well-formed image, never a panic. Each input is
// decoded at full size and shrunk, which in cgo builds sends JPEGs through
// libjpeg at scale 1 and at 1/2..1/8 plus the box filter; the corpus holds
// progressive, 4:2:2, 4:4:4, grey, CMYK and YCCK JPEGs to start from. The
// fuzzer's coverage does not see inside libjpeg, only whether it crashes.
func FuzzDecode(f *testing.F) {
	small := image.NewNRGBA(image.Rect(0, 0, 8, 4))
	for i := range small.Pix {
		small.Pix[i] = byte(i * 37)
	}
	f.Add(jpegOf(f, small))
	f.Add(withAPP1(jpegOf(f, small), exifTIFF(binary.BigEndian, 6)))
	f.Add(pngOf(f, small))
	f.Add(encode(f, func(b *bytes.Buffer) error { return gif.Encode(b, small, nil) }))
	f.Add(encode(f, func(b *bytes.Buffer) error { return bmp.Encode(b, small) }))
	f.Add(encode(f, func(b *bytes.Buffer) error { return tiff.Encode(b, small, nil) }))
	for _, h := range hugeHeaders() {
		f.Add(h)
	}
	names, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil && Sniff(b) != "" {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, minSide := range []int{0, 3} {
			fuzzDecodeOnce(t, data, minSide)
		}
	})
}

// fuzzDecodeOnce checks DecodeBytes's contract on data at one MinSide.
func fuzzDecodeOnce(t *testing.T, data []byte, minSide int) {
	t.Helper()
	img, info, err := DecodeBytes(data, &DecodeOptions{MaxPixels: 1 << 16, MinSide: minSide})
	if err != nil {
		if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrUnsupported) &&
			!errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error without a sentinel: %v", err)
		}
		return
	}
	if img.W <= 0 || img.H <= 0 || len(img.Pix) != 3*img.W*img.H {
		t.Fatalf("min side %d: malformed image %d×%d with %d bytes", minSide, img.W, img.H, len(img.Pix))
	}
	if info.Orientation < 1 || info.Orientation > 8 || int64(info.Width)*int64(info.Height) > 1<<16 {
		t.Fatalf("min side %d: info %+v", minSide, info)
	}
	dst := make([]float32, 3*4*4)
	if err := Tensor(dst, img, torch(4, 5)); err != nil {
		t.Fatal(err)
	}
	for _, v := range dst {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("tensor holds %v", v)
		}
	}
}

// FuzzPool checks that every pooling of any finite map of any shape gives
// a unit or zero vector of C finite values.
func FuzzPool(f *testing.F) {
	f.Add(uint8(2), uint8(3), uint8(3), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(1), uint8(1), uint8(9), []byte{0})
	f.Fuzz(func(t *testing.T, c, h, w uint8, seed []byte) {
		ci, hi, wi := int(c%16)+1, int(h%12)+1, int(w%12)+1
		fm := make([]float32, ci*hi*wi)
		for i := range fm {
			if len(seed) > 0 {
				fm[i] = float32(seed[i%len(seed)]) / 16 // ReLU output: ≥ 0
			}
		}
		for _, p := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
			v, err := Pool(fm, ci, hi, wi, p)
			if err != nil || len(v) != ci {
				t.Fatalf("%s on %d×%d×%d: %d dims, %v", p, ci, hi, wi, len(v), err)
			}
			var n float64
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("%s: %v", p, v)
				}
				n += float64(x) * float64(x)
			}
			if n != 0 && math.Abs(n-1) > 1e-5 {
				t.Fatalf("%s: squared norm %v", p, n)
			}
		}
	})
}

package extractor

import (
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// heifFixtures makes, from the sample photo aitzgorri, HEIC and AVIF files
// at 8 and 10 bits, and HEIC and AVIF files made from its sideways copy
// (pixels stored turned clockwise, EXIF orientation 8) with an irot box
// that turns them back. Every one should decode to the upright original.
func heifFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	orig := filepath.Join(photosDir, "aitzgorri.jpg")
	sideways := filepath.Join(photosDir, "aitzgorri--exifrot.jpg")
	png16 := filepath.Join(dir, "aitzgorri16.png")
	imagetest.PNG16(t, orig, png16)
	f := map[string][]byte{}
	for _, ext := range []string{"heic", "avif"} {
		f["8-bit."+ext] = imagetest.HEIFEnc(t, orig, filepath.Join(dir, "8."+ext), "-q", "90")
		args := []string{"-q", "90", "-b", "10"}
		if ext == "avif" {
			// Debian 12's libaom asserts on 10-bit 4:2:0 from heif-enc.
			args = append(args, "-p", "chroma=422")
		}
		f["10-bit."+ext] = imagetest.HEIFEnc(t, png16, filepath.Join(dir, "10."+ext), args...)
		turned := imagetest.HEIFEnc(t, sideways, filepath.Join(dir, "turned."+ext), "-q", "90")
		// EXIF orientation 8 is a quarter turn anticlockwise: irot 1.
		rot, err := imagetest.WithIrot(turned, 1)
		if err != nil {
			t.Fatalf("irot in %s: %v", ext, err)
		}
		f["irot."+ext] = rot
		f["sideways."+ext] = turned
	}
	return f
}

// heifDecoders are the two decode paths; in a build without cgo both are
// the fallback.
var heifDecoders = map[string]func([]byte, DecodeOptions, Info) (*RGB, Info, error){
	"default":  decodeHEIF,
	"fallback": decodeHEIFFallback,
}

// TestDecode_HEIFUpright decodes each fixture through both paths and
// compares it with the JPEG original: lossy re-encoding moves pixels by a
// few levels, a picture turned the wrong way by tens (checked on the
// sideways file, whose EXIF orientation must not be applied on top of
// libheif's).
func TestDecode_HEIFUpright(t *testing.T) {
	orig, _, err := DecodeFile(filepath.Join(photosDir, "aitzgorri.jpg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HEIF decoder: %s", HEIFDecoder())
	for name, b := range heifFixtures(t) {
		wantFormat := FormatHEIC
		if strings.HasSuffix(name, ".avif") {
			wantFormat = FormatAVIF
		}
		if got := Sniff(b); got != wantFormat {
			t.Errorf("%s sniffs as %q, want %q", name, got, wantFormat)
		}
		for path, dec := range heifDecoders {
			t.Run(name+"/"+path, func(t *testing.T) {
				img, info, err := dec(b, DecodeOptions{MaxPixels: DefaultMaxPixels}, Info{Format: wantFormat})
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(name, "sideways") {
					// Stored turned, EXIF orientation 8, no irot: HEIF
					// viewers show it as stored, and so do we.
					if img.W != orig.H || img.H != orig.W || info.Orientation != 0 {
						t.Fatalf("sideways file decoded %d×%d (orientation %d), want %d×%d as stored", img.W, img.H, info.Orientation, orig.H, orig.W)
					}
					if d := meanAbsDiff(orient(img, 8), orig); d > 4 {
						t.Errorf("sideways file turned back differs by %.2f levels", d)
					}
					return
				}
				if img.W != orig.W || img.H != orig.H || info.Width != orig.W || info.Height != orig.H {
					t.Fatalf("decoded %d×%d (info %d×%d), want %d×%d", img.W, img.H, info.Width, info.Height, orig.W, orig.H)
				}
				d := meanAbsDiff(img, orig)
				t.Logf("mean difference from the JPEG: %.2f levels", d)
				if d > 4 {
					t.Errorf("differs from the JPEG original by %.2f levels per channel, want ≤ 4", d)
				}
				if wrong := meanAbsDiff(orient(img, 3), orig); wrong < 4*d || wrong < 15 {
					t.Errorf("turned 180° it still differs by only %.2f levels: the metric cannot see a wrong rotation", wrong)
				}
			})
		}
	}
}

// TestDecode_HEIFShrinks checks that MinSide shrinks a HEIC as it does
// a JPEG: the same size out, the same picture.
func TestDecode_HEIFShrinks(t *testing.T) {
	b := imagetest.HEIFEnc(t, filepath.Join(photosDir, "aitzgorri.jpg"), filepath.Join(t.TempDir(), "a.heic"), "-q", "90")
	o := &DecodeOptions{MinSide: 120}
	want, _, err := DecodeFile(filepath.Join(photosDir, "aitzgorri.jpg"), o)
	if err != nil {
		t.Fatal(err)
	}
	img, info, err := DecodeBytes(b, o)
	if err != nil {
		t.Fatal(err)
	}
	// libjpeg's DCT scaling rounds sizes up (134 rows), the box filter
	// down (133).
	if img.W != 200 || img.H != 133 || info.Width != 800 || info.Height != 533 || want.W != 200 || want.H != 133 && want.H != 134 {
		t.Fatalf("shrunk to %d×%d (full %d×%d), JPEG to %d×%d; want 200×133 (800×533), 200×133 or 134", img.W, img.H, info.Width, info.Height, want.W, want.H)
	}
	want.H, want.Pix = img.H, want.Pix[:len(img.Pix)]
	if d := meanAbsDiff(img, want); d > 4 {
		t.Errorf("shrunk HEIC differs from the shrunk JPEG by %.2f levels", d)
	}
}

// TestDecode_HEIFBadFiles: a truncated HEIC, one whose header declares
// a bomb's size, and a container with no image are refused with the
// sentinel and a reason, on both paths; the bomb before any decoding.
func TestDecode_HEIFBadFiles(t *testing.T) {
	dir := t.TempDir()
	heic := imagetest.HEIFEnc(t, filepath.Join(photosDir, "cat.jpg"), filepath.Join(dir, "c.heic"), "-q", "50")
	avif := imagetest.HEIFEnc(t, filepath.Join(photosDir, "cat.jpg"), filepath.Join(dir, "c.avif"), "-q", "50")
	tests := []struct {
		name   string
		b      []byte
		format string
		want   error
		msg    string
	}{
		{"truncated heic", heic[:len(heic)/2], FormatHEIC, ErrCorrupt, "corrupt image: heic"},
		{"truncated avif", avif[:len(avif)/2], FormatAVIF, ErrCorrupt, "corrupt image: avif"},
		{"bomb heic", imagetest.WithSize(heic, 100000, 100000), FormatHEIC, ErrTooLarge, "image too large: 100000×100000 is 10000.0 MP"},
		{"bomb avif", imagetest.WithSize(avif, 50000, 50000), FormatAVIF, ErrTooLarge, "image too large: 50000×50000"},
		{"huge side", imagetest.WithSize(heic, 1<<21, 1), FormatHEIC, ErrTooLarge, "has a side over"},
		{"zero size", imagetest.WithSize(heic, 0, 0), FormatHEIC, ErrCorrupt, "header declares 0×0"},
		{"no meta", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), FormatHEIC, ErrCorrupt, "no meta box"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/DecodeBytes", func(t *testing.T) {
			_, info, err := DecodeBytes(tt.b, nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) || info.Format != tt.format {
				t.Fatalf("%v (format %q), want %v containing %q", err, info.Format, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
		t.Run(tt.name+"/fallback", func(t *testing.T) {
			_, _, err := decodeHEIFFallback(tt.b, DecodeOptions{MaxPixels: DefaultMaxPixels}, Info{Format: tt.format})
			if !errors.Is(err, tt.want) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}

// TestHEIFParse reads the fixtures' headers: the primary image's size,
// its item type, and the irot WithIrot put in.
func TestHEIFParse(t *testing.T) {
	f := heifFixtures(t)
	for name, b := range f {
		h, err := heifParse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, hh, orient := 800, 533, 0
		if strings.HasPrefix(name, "irot") || strings.HasPrefix(name, "sideways") {
			w, hh = 533, 800 // ispe is the size before rotation
		}
		if strings.HasPrefix(name, "irot") {
			orient = 8
		}
		item := map[string]string{".heic": "grid", ".avif": "av01"}[filepath.Ext(name)]
		if h.width != w || h.height != hh || h.item != item && !(item == "grid" && h.item == "hvc1") {
			t.Errorf("%s: %d×%d %q, want %d×%d %q", name, h.width, h.height, h.item, w, hh, item)
		}
		bits := 8
		switch {
		case strings.HasPrefix(name, "10-bit"):
			bits = 10
		case strings.HasPrefix(name, "irot"):
			bits = 0 // the irot took the pixi's place
		}
		if h.bits != bits {
			t.Errorf("%s: %d bits, want %d", name, h.bits, bits)
		}
		if got := len(h.orient); (orient == 0) != (got == 0) || got > 0 && h.orient[0] != orient {
			t.Errorf("%s: orientations %v, want [%d]", name, h.orient, orient)
		}
	}
	// A generic brand set: the codec comes from the primary item.
	b := f["8-bit.avif"]
	generic := append([]byte(nil), b...)
	for i := 8; i < 28; i += 4 {
		if s := string(generic[i : i+4]); s == "avif" || s == "avis" {
			copy(generic[i:], "mif1")
		}
	}
	if got := Sniff(generic); got != FormatAVIF {
		t.Errorf("AVIF branded only mif1 sniffs as %q", got)
	}
}

// TestDecode_HEIFAlphaOverWhite: a HEIC with an alpha channel (heif-enc
// keeps a PNG's) is composited over white, as the other formats are.
func TestDecode_HEIFAlphaOverWhite(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			a := uint8(255)
			if x >= 32 {
				a = 0 // right half transparent
			}
			m.SetNRGBA(x, y, color.NRGBA{R: 200, G: 30, B: 30, A: a})
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "alpha.png")
	if err := os.WriteFile(src, pngOf(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
	b := imagetest.HEIFEnc(t, src, filepath.Join(dir, "alpha.heic"), "-q", "90")
	if h, err := heifParse(b); err != nil || !h.alpha {
		t.Fatalf("alpha plane not found: %+v, %v", h, err)
	}
	// The fallback refuses it: gen2brain's decoders get it wrong.
	if _, _, err := decodeHEIFFallback(b, DecodeOptions{MaxPixels: DefaultMaxPixels}, Info{Format: FormatHEIC}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "alpha channel") {
		t.Errorf("fallback: %v, want ErrUnsupported for the alpha channel", err)
	}
	if libheifAvailable {
		img, _, err := DecodeBytes(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		px := func(x, y int) []uint8 { return img.Pix[3*(y*img.W+x) : 3*(y*img.W+x)+3] }
		l, r := px(8, 32), px(56, 32)
		if r[0] < 240 || r[1] < 240 || r[2] < 240 || l[0] < 170 || l[1] > 70 || l[2] > 70 {
			t.Errorf("opaque side %v (want about 200,30,30), transparent side %v (want white)", l, r)
		}
	}
	// Without alpha, no alpha found.
	if h, err := heifParse(imagetest.HEIFEnc(t, src, filepath.Join(dir, "opaque.heic"), "-q", "90", "--no-alpha")); err != nil || h.alpha {
		t.Errorf("opaque file: alpha %v, %v", h.alpha, err)
	}
}

package imagetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// HEIFEnc writes the image file src (JPEG, or PNG for 10-bit output) as
// HEIC, or AVIF when out ends in .avif, with libheif's heif-enc and extra
// arguments args, and returns the file's bytes. The test is skipped when
// heif-enc is not installed (make deps installs it with libheif-examples).
func HEIFEnc(tb testing.TB, src, out string, args ...string) []byte {
	tb.Helper()
	enc, err := exec.LookPath("heif-enc")
	if err != nil {
		tb.Skip("heif-enc not found: install libheif-examples (make deps does, as root with apt-get)")
	}
	cmd := exec.Command(enc, append(append([]string{"-o", out}, args...), src)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("heif-enc %s: %v\n%s", filepath.Base(src), err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// PNG16 decodes the JPEG file src and writes it to dst as a 16-bit PNG,
// each sample v as v·257, so that heif-enc -b 10 has 10 significant bits
// to encode.
func PNG16(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("decode %s: %v", src, err)
	}
	r := m.Bounds()
	out := image.NewRGBA64(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBA64Model.Convert(m.At(x, y)).(color.RGBA64)
			out.SetRGBA64(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// WithIrot returns a copy of the HEIF or AVIF file b (as heif-enc writes
// it) whose primary image carries an irot property of angle quarter turns
// anticlockwise, as a phone writes for a photo taken sideways: heif-enc
// itself writes none. The property takes the place of the primary image's
// pixi (bit depths, which decoders do not need), keeping every size and
// offset in the file as it was.
func WithIrot(b []byte, angle int) ([]byte, error) {
	p, err := propertyBox(b, "pixi")
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(b)
	box := out[p : p+int(binary.BigEndian.Uint32(out[p:]))]
	copy(box[4:8], "irot")
	clear(box[8:])
	box[8] = byte(angle & 3)
	return out, nil
}

// WithSize returns a copy of the HEIF or AVIF file b whose every ispe
// (image spatial extents) property declares w×h pixels: a decompression
// bomb's header on a real file.
func WithSize(b []byte, w, h uint32) []byte {
	out := bytes.Clone(b)
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte("ispe"))
		if j < 0 {
			return out
		}
		p := i + j + 4 + 4 // past the type, the version and flags
		if p+8 <= len(out) {
			binary.BigEndian.PutUint32(out[p:], w)
			binary.BigEndian.PutUint32(out[p+4:], h)
		}
		i = p
	}
}

// propertyBox returns the offset of the box of type typ in the meta
// box's ipco of a file heif-enc wrote (meta, iprp and ipco found by
// walking the boxes that contain them).
func propertyBox(b []byte, typ string) (int, error) {
	path := []struct {
		typ  string
		skip int // bytes of version and flags after the header
	}{{"meta", 4}, {"iprp", 0}, {"ipco", 0}, {typ, 0}}
	start, end := 0, len(b)
	for i, step := range path {
		found := false
		for p := start; p+8 <= end; {
			n := int(binary.BigEndian.Uint32(b[p:]))
			if n < 8 || p+n > end {
				break
			}
			if string(b[p+4:p+8]) == step.typ {
				if i == len(path)-1 {
					return p, nil
				}
				start, end, found = p+8+step.skip, p+n, true
				break
			}
			p += n
		}
		if !found {
			return 0, fmt.Errorf("no %s box", step.typ)
		}
	}
	return 0, fmt.Errorf("no %s box", typ)
}

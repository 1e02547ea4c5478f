package extractor

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
	"github.com/simsearch/simsearch/model"
)

// photo12MP writes a 4000×3000 JPEG (quality 90) of the sample photo
// dahlia scaled up, the size of a phone's photo, and returns its path.
func photo12MP(b *testing.B, dir string) string {
	b.Helper()
	src, _, err := DecodeFile(filepath.Join(photosDir, "dahlia.jpg"), nil)
	if err != nil {
		b.Fatal(err)
	}
	const w, h = 4000, 3000
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		sy := y * src.H / h
		for x := range w {
			sx := x * src.W / w
			copy(m.Pix[4*(y*w+x):], src.Pix[3*(sy*src.W+sx):3*(sy*src.W+sx)+3])
			m.Pix[4*(y*w+x)+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "12mp.jpg")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecodeHEIF12MP times what indexing does to a 12 MP phone photo
// before the network, decode (shrinking as MinSide allows) and Tensor,
// for the same picture as JPEG, HEIC and AVIF, on each HEIF path.
func BenchmarkDecodeHEIF12MP(b *testing.B) {
	dir := b.TempDir()
	jpg := photo12MP(b, dir)
	files := map[string][]byte{}
	var err error
	if files["jpeg"], err = os.ReadFile(jpg); err != nil {
		b.Fatal(err)
	}
	files["heic"] = imagetest.HEIFEnc(b, jpg, filepath.Join(dir, "12mp.heic"), "-q", "50")
	files["avif"] = imagetest.HEIFEnc(b, jpg, filepath.Join(dir, "12mp.avif"), "-q", "50", "-p", "speed=9")
	pre := model.TorchPreprocess(224)
	o := DecodeOptions{MaxPixels: DefaultMaxPixels, MinSide: MinSideFor(pre)}
	in := make([]float32, 3*224*224)
	run := func(b *testing.B, dec func() (*RGB, error)) {
		for b.Loop() {
			img, err := dec()
			if err != nil {
				b.Fatal(err)
			}
			if err := Tensor(in, img, pre); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("jpeg", func(b *testing.B) {
		run(b, func() (*RGB, error) { img, _, err := DecodeBytes(files["jpeg"], &o); return img, err })
	})
	for _, f := range []string{"heic", "avif"} {
		for _, path := range []string{"default", "fallback"} {
			dec := heifDecoders[path]
			b.Run(f+"/"+path, func(b *testing.B) {
				run(b, func() (*RGB, error) { img, _, err := dec(files[f], o, Info{Format: f}); return img, err })
			})
		}
	}
}

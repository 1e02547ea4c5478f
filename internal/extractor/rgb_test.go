package extractor

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// randomImages returns one image of every type toRGB has a fast path for,
// filled with random bytes, each a sub-image with an odd origin so that
// stride and offset handling is exercised.
func randomImages(rng *rand.Rand) []image.Image {
	r := image.Rect(0, 0, 37, 23)
	sub := image.Rect(3, 5, 34, 22)
	noise := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	var out []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(r, ratio)
		noise(m.Y)
		noise(m.Cb)
		noise(m.Cr)
		out = append(out, m.SubImage(sub))
		a := image.NewNYCbCrA(r, ratio)
		noise(a.Y)
		noise(a.Cb)
		noise(a.Cr)
		noise(a.A)
		out = append(out, a.SubImage(sub))
	}
	rgba := image.NewRGBA(r)
	noise(rgba.Pix)
	for i := 0; i < len(rgba.Pix); i += 4 { // keep it validly premultiplied
		a := rgba.Pix[i+3]
		rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2] = min(rgba.Pix[i], a), min(rgba.Pix[i+1], a), min(rgba.Pix[i+2], a)
	}
	rgba64 := image.NewRGBA64(r)
	for y := range r.Dy() {
		for x := range r.Dx() {
			a := uint16(rng.Uint32())
			rgba64.SetRGBA64(x, y, color.RGBA64{uint16(rng.UintN(uint(a) + 1)), uint16(rng.UintN(uint(a) + 1)), uint16(rng.UintN(uint(a) + 1)), a})
		}
	}
	nrgba, nrgba64, gray, gray16, cmyk := image.NewNRGBA(r), image.NewNRGBA64(r), image.NewGray(r), image.NewGray16(r), image.NewCMYK(r)
	noise(nrgba.Pix)
	noise(nrgba64.Pix)
	noise(gray.Pix)
	noise(gray16.Pix)
	noise(cmyk.Pix)
	pal := image.NewPaletted(r, color.Palette{color.NRGBA{200, 10, 10, 255}, color.NRGBA{0, 0, 255, 100}, color.Gray{7}})
	for i := range pal.Pix {
		pal.Pix[i] = byte(rng.UintN(3))
	}
	for _, m := range []interface {
		image.Image
		SubImage(image.Rectangle) image.Image
	}{rgba, rgba64, nrgba, nrgba64, gray, gray16, cmyk, pal} {
		out = append(out, m.SubImage(sub))
	}
	return append(out, alphaOnly{image.NewAlpha(sub)}) // no fast path: the generic one
}

// alphaOnly hides *image.Alpha's type so the generic path is taken.
type alphaOnly struct{ *image.Alpha }

func TestToRGB_FastPathsMatchColorModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range randomImages(rng) {
		t.Run(fmt.Sprintf("%T", m), func(t *testing.T) {
			got := toRGB(m, 1)
			b := m.Bounds()
			if got.W != b.Dx() || got.H != b.Dy() {
				t.Fatalf("size %d×%d, want %d×%d", got.W, got.H, b.Dx(), b.Dy())
			}
			for y := range got.H {
				for x := range got.W {
					want := rgbOverWhite(m.At(b.Min.X+x, b.Min.Y+y))
					p := got.Pix[3*(y*got.W+x):][:3]
					for c := range 3 {
						// The fast paths round in 8 bits where the colour
						// model rounds in 16: one step apart at most.
						if d := int(p[c]) - int(want[c]); d > 1 || d < -1 {
							t.Fatalf("pixel (%d,%d) = %v, colour model says %v", x, y, p, want)
						}
					}
				}
			}
		})
	}
}

func TestToRGB_IndexPastPaletteIsBlack(t *testing.T) {
	m := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Gray{200}})
	m.Pix[1] = 9 // Paletted.At would panic here
	if got := toRGB(m, 1).Pix; [6]uint8(got) != [6]uint8{200, 200, 200, 0, 0, 0} {
		t.Fatalf("pixels %v", got)
	}
}

// TestToRGB_ShrinkIsBoxAverage checks the fused shrink against plain
// block averages: of the RGB pixels for RGB-like images, and of Y, Cb and
// Cr (then converted) for YCbCr, which is averaged before conversion.
func TestToRGB_ShrinkIsBoxAverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	imgs := randomImages(rng)
	ycc := imgs[4].(*image.YCbCr) // 4:2:0, 31×17 at an odd origin
	var nrgba image.Image
	for _, m := range imgs {
		if _, ok := m.(*image.NRGBA); ok {
			nrgba = m
		}
	}
	full := toRGB(nrgba, 1)
	b := ycc.Bounds()
	for _, k := range []int{2, 3, 5, 17} {
		for _, m := range []image.Image{nrgba, ycc} {
			got := toRGB(m, k)
			if got.W != full.W/k || got.H != full.H/k {
				t.Fatalf("%T k=%d: %d×%d", m, k, got.W, got.H)
			}
			for by := range got.H {
				for bx := range got.W {
					var sum [3]int
					for y := by * k; y < by*k+k; y++ {
						for x := bx * k; x < bx*k+k; x++ {
							if m == nrgba {
								for c := range 3 {
									sum[c] += int(full.Pix[3*(y*full.W+x)+c])
								}
								continue
							}
							p := ycc.YCbCrAt(b.Min.X+x, b.Min.Y+y)
							sum[0], sum[1], sum[2] = sum[0]+int(p.Y), sum[1]+int(p.Cb), sum[2]+int(p.Cr)
						}
					}
					n := k * k
					want := [3]uint8{uint8((sum[0] + n/2) / n), uint8((sum[1] + n/2) / n), uint8((sum[2] + n/2) / n)}
					if m == ycc {
						want[0], want[1], want[2] = color.YCbCrToRGB(want[0], want[1], want[2])
					}
					if p := [3]uint8(got.Pix[3*(by*got.W+bx):]); p != want {
						t.Fatalf("%T k=%d block (%d,%d) = %v, want %v", m, k, bx, by, p, want)
					}
				}
			}
		}
	}
}

func TestDecode_MinSideShrinksToAtLeastMinSide(t *testing.T) {
	for _, tt := range []struct{ w, h, minSide, wantW, wantH int }{
		{64, 32, 0, 64, 32},
		{64, 32, 33, 64, 32}, // 32 < 33: no shrink possible
		{64, 32, 16, 32, 16},
		{64, 32, 15, 32, 16}, // factor 2; 3 would give 11 rows
		{64, 32, 10, 21, 10}, // factor 3; the last column and rows 30, 31 go
	} {
		img, info, err := DecodeBytes(pngOf(t, quadImage()), &DecodeOptions{MinSide: tt.minSide})
		if err != nil {
			t.Fatal(err)
		}
		if img.W != tt.wantW || img.H != tt.wantH || info.Width != 64 || info.Height != 32 {
			t.Errorf("MinSide %d: image %d×%d, info %d×%d; want %d×%d and 64×32", tt.minSide, img.W, img.H, info.Width, info.Height, tt.wantW, tt.wantH)
		}
	}
}

// pngImage wraps an RGB in an opaque *image.NRGBA, the type the PNG
// decoder returns.
func pngImage(img *RGB) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, img.W, img.H))
	for i := range img.W * img.H {
		copy(m.Pix[4*i:], img.Pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	return m
}

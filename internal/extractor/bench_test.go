package extractor

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// vgg16Pre is the ONNX model zoo VGG16 preprocessing.
func vgg16Pre() model.Preprocess { return torch(224, 256) }

// photoLike draws a w×h YCbCr 4:2:0 picture with what makes real photos
// expensive to code: smooth gradients, edges and sensor-like noise.
func photoLike(w, h int) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(7, 8))
	for y := range h {
		for x := range w {
			v := 128 + 60*math.Sin(float64(x)/150)*math.Cos(float64(y)/90)
			if (x/400+y/300)%3 == 0 {
				v += 40
			}
			m.Y[y*m.YStride+x] = uint8(max(0, min(255, v+rng.NormFloat64()*6)))
		}
	}
	for y := range (h + 1) / 2 {
		for x := range (w + 1) / 2 {
			m.Cb[y*m.CStride+x] = uint8(128 + 40*math.Sin(float64(x)/70))
			m.Cr[y*m.CStride+x] = uint8(128 + 40*math.Cos(float64(y)/50))
		}
	}
	return m
}

// BenchmarkDecodePreprocess12MP measures a 4000×3000 camera-like JPEG to a
// 224×224 VGG16 tensor through image/jpeg and through DecodeBytes (libjpeg
// in cgo builds), each at full size and letting the decoder shrink
// (MinSide), and the parts on their own.
func BenchmarkDecodePreprocess12MP(b *testing.B) {
	m := benchDecodePreprocess(b, 4000, 3000)
	pre := vgg16Pre()
	dst := make([]float32, 3*224*224)
	full := toRGB(m, 1)
	for _, minSide := range []int{0, MinSideFor(pre)} {
		b.Run(fmt.Sprintf("toRGB/minside=%d", minSide), func(b *testing.B) {
			k := shrinkFactor(4000, 3000, minSide)
			for b.Loop() {
				toRGB(m, k)
			}
		})
	}
	b.Run("tensor-from-12MP-RGB", func(b *testing.B) {
		for b.Loop() {
			if err := Tensor(dst, full, pre); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("orient6-12MP", func(b *testing.B) {
		for b.Loop() {
			orient(full, 6)
		}
	})
}

// BenchmarkDecodePreprocess2MP is BenchmarkDecodePreprocess12MP's
// comparison for a 1920×1080 JPEG.
func BenchmarkDecodePreprocess2MP(b *testing.B) {
	benchDecodePreprocess(b, 1920, 1080)
}

// benchDecodePreprocess runs the decoder comparison on a w×h photo-like
// JPEG at quality 90 and returns the picture.
func benchDecodePreprocess(b *testing.B, w, h int) *image.YCbCr {
	m := photoLike(w, h)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	pre := vgg16Pre()
	dst := make([]float32, 3*224*224)
	decoder := "DecodeBytes"
	if libjpegAvailable {
		decoder = "libjpeg"
	}
	for _, minSide := range []int{0, MinSideFor(pre)} {
		b.Run(fmt.Sprintf("image-jpeg+tensor/minside=%d", minSide), func(b *testing.B) {
			for b.Loop() {
				m, err := jpeg.Decode(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				img := toRGB(m, shrinkFactor(w, h, minSide))
				if err := Tensor(dst, img, pre); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s+tensor/minside=%d", decoder, minSide), func(b *testing.B) {
			opts := &DecodeOptions{MinSide: minSide}
			for b.Loop() {
				img, _, err := DecodeBytes(data, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := Tensor(dst, img, pre); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	return m
}

// BenchmarkTensor measures preprocessing alone from RGB of typical sizes.
func BenchmarkTensor(b *testing.B) {
	pre := vgg16Pre()
	dst := make([]float32, 3*224*224)
	for _, s := range [][2]int{{800, 600}, {1920, 1080}, {4000, 3000}} {
		img := toRGB(photoLike(s[0], s[1]), 1)
		b.Run(fmt.Sprintf("%dx%d", s[0], s[1]), func(b *testing.B) {
			for b.Loop() {
				if err := Tensor(dst, img, pre); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPool measures each pooling on VGG16's 512×7×7 map.
func BenchmarkPool(b *testing.B) {
	fm := make([]float32, 512*7*7)
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range fm {
		fm[i] = max(0, float32(rng.NormFloat64()))
	}
	for _, p := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
		b.Run(string(p), func(b *testing.B) {
			for b.Loop() {
				if _, err := Pool(fm, 512, 7, 7, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package extractor

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// torch is the ONNX model zoo's VGG16 preprocessing at a test size.
func torch(size, shorter int) model.Preprocess {
	return model.Preprocess{
		Size: size, Resize: model.ResizeCrop, ResizeShorter: shorter,
		Layout: model.NCHW, Order: model.RGB, Scale: 1.0 / 255,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
	}
}

// caffe is Keras' VGG16 preprocessing: NHWC, BGR, mean subtraction only.
func caffe(size int) model.Preprocess {
	return model.Preprocess{
		Size: size, Resize: model.ResizeSquash, Layout: model.NHWC, Order: model.BGR, Scale: 1,
		Mean: [3]float32{103.939, 116.779, 123.68}, Std: [3]float32{1, 1, 1},
	}
}

// identity keeps pixel values as they are, for geometry tests.
func identity(size int, resize model.ResizePolicy, shorter int) model.Preprocess {
	return model.Preprocess{Size: size, Resize: resize, ResizeShorter: shorter,
		Layout: model.NHWC, Order: model.RGB, Scale: 1, Std: [3]float32{1, 1, 1}}
}

// pattern makes a deterministic photo-like test image: smooth gradients,
// a disc and fine stripes, so that the resampler's edges, averaging and
// offsets all show in the output.
func pattern(w, h int) *RGB {
	img := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for y := range h {
		for x := range w {
			p := img.Pix[3*(y*w+x):][:3]
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			p[0] = uint8(255 * fx)
			p[1] = uint8(255 * fy)
			p[2] = uint8(127 + 120*math.Sin(float64(x+2*y)/3))
			if dx, dy := fx-0.6, fy-0.4; dx*dx+dy*dy < 0.04 {
				p[0], p[1] = 250, 240
			}
		}
	}
	return img
}

func tensorOf(t *testing.T, img *RGB, pre model.Preprocess) []float32 {
	t.Helper()
	dst := make([]float32, 3*pre.Size*pre.Size)
	if err := Tensor(dst, img, pre); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestTensor_Golden(t *testing.T) {
	cases := map[string]struct {
		img *RGB
		pre model.Preprocess
	}{
		"crop-torch-97x61":     {pattern(97, 61), torch(8, 10)},
		"crop-torch-61x97":     {pattern(61, 97), torch(8, 10)},
		"squash-caffe-97x61":   {pattern(97, 61), caffe(8)},
		"crop-torch-1000x700":  {pattern(1000, 700), torch(8, 10)}, // box factor 35
		"upscale-caffe-5x3":    {pattern(5, 3), caffe(8)},
		"crop-identity-300x40": {pattern(300, 40), identity(6, model.ResizeCrop, 7)},
	}
	got := map[string][]float32{}
	for name, c := range cases {
		got[name] = tensorOf(t, c.img, c.pre)
	}
	path := filepath.Join("testdata", "golden", "tensor.json")
	if *update {
		b, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want map[string][]float32
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name := range cases {
		w, g := want[name], got[name]
		if len(w) != len(g) {
			t.Errorf("%s: %d values, golden has %d", name, len(g), len(w))
			continue
		}
		for i := range w {
			// Relative: values in pixel units (caffe) carry fewer decimals,
			// and fused multiply-adds on other CPUs round differently.
			if math.Abs(float64(w[i]-g[i])) > 1e-5*max(1, math.Abs(float64(w[i]))) {
				t.Errorf("%s: value %d = %v, golden %v", name, i, g[i], w[i])
				break
			}
		}
	}
}

func TestTensor_UniformImageGivesNormalisedColour(t *testing.T) {
	img := &RGB{W: 50, H: 30, Pix: make([]uint8, 3*50*30)}
	for i := 0; i < len(img.Pix); i += 3 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 10, 100, 200
	}
	for name, pre := range map[string]model.Preprocess{"torch": torch(16, 20), "caffe": caffe(16)} {
		dst := tensorOf(t, img, pre)
		for i, v := range dst {
			c, p := i/(16*16), i%(16*16) // NCHW
			if pre.Layout == model.NHWC {
				c, p = i%3, i/3
			}
			src := [3]float32{10, 100, 200}[c]
			if pre.Order == model.BGR {
				src = [3]float32{200, 100, 10}[c]
			}
			want := (src*pre.Scale - pre.Mean[c]) / pre.Std[c]
			if math.Abs(float64(v-want)) > 1e-4 {
				t.Fatalf("%s: value %d (channel %d, pixel %d) = %v, want %v", name, i, c, p, v, want)
			}
		}
	}
}

// TestTensor_LinearRampLandsAtPixelCentres resizes images whose red
// channel is x and green channel is 2y: a symmetric filter reproduces a
// linear function exactly, so every output must equal the ramp at the
// output pixel's centre mapped to source coordinates. A half-pixel shift,
// a wrong crop offset or a wrong box factor moves every value.
func TestTensor_LinearRampLandsAtPixelCentres(t *testing.T) {
	ramp := &RGB{W: 256, H: 128, Pix: make([]uint8, 3*256*128)}
	for y := range 128 {
		for x := range 256 {
			ramp.Pix[3*(y*256+x)], ramp.Pix[3*(y*256+x)+1] = uint8(x), uint8(2*y)
		}
	}
	tests := []struct {
		name           string
		pre            model.Preprocess
		x0, y0, sx, sy float64 // source rectangle start and output pixel size
		tol            float64
		interior       int // outputs this far from the edges are checked
	}{
		// crop: shorter side 128 → 64, so 4 source px per output; the 64 px
		// square crop of the 128×64 resized image starts at source (96,32).
		// The box factor is 2; its round-half-up averages add up to 0.5.
		{"crop with box", identity(16, model.ResizeCrop, 32), 96, 32, 4, 4, 0.55, 0},
		// 256×128 squashed to 64×64: 4 px by 2 px; box factor 1.
		{"squash, no box", identity(64, model.ResizeSquash, 0), 0, 0, 4, 2, 1e-3, 2},
		// shorter side 128 → 128 and a 100 px crop: no scaling at all.
		{"crop, no scaling", identity(100, model.ResizeCrop, 128), 78, 14, 1, 1, 1e-3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.pre.Size
			dst := tensorOf(t, ramp, tt.pre)
			for j := tt.interior; j < n-tt.interior; j++ {
				for i := tt.interior; i < n-tt.interior; i++ {
					wantR := tt.x0 + (float64(i)+0.5)*tt.sx - 0.5
					wantG := 2 * (tt.y0 + (float64(j)+0.5)*tt.sy - 0.5)
					r, g := float64(dst[3*(j*n+i)]), float64(dst[3*(j*n+i)+1])
					if math.Abs(r-wantR) > tt.tol || math.Abs(g-wantG) > 2*tt.tol {
						t.Fatalf("output (%d,%d) = R %.3f G %.3f, want %.3f %.3f", i, j, r, g, wantR, wantG)
					}
				}
			}
		})
	}
}

func TestTensor_LayoutAndOrderArePermutations(t *testing.T) {
	img := pattern(40, 30)
	base := torch(8, 9)
	nchw := tensorOf(t, img, base)
	for _, v := range []struct {
		layout model.Layout
		order  model.ColorOrder
	}{{model.NHWC, model.RGB}, {model.NCHW, model.BGR}, {model.NHWC, model.BGR}} {
		pre := base
		pre.Layout, pre.Order = v.layout, v.order
		if v.order == model.BGR { // the spec's per-channel constants follow the order
			pre.Mean = [3]float32{base.Mean[2], base.Mean[1], base.Mean[0]}
			pre.Std = [3]float32{base.Std[2], base.Std[1], base.Std[0]}
		}
		got := tensorOf(t, img, pre)
		for c := range 3 {
			for p := range 64 {
				oc := c
				if v.order == model.BGR {
					oc = 2 - c
				}
				i := oc*64 + p
				if v.layout == model.NHWC {
					i = 3*p + oc
				}
				if got[i] != nchw[c*64+p] {
					t.Fatalf("%s/%s: channel %d pixel %d = %v, NCHW RGB has %v", v.layout, v.order, c, p, got[i], nchw[c*64+p])
				}
			}
		}
	}
}

// TestTensor_DecodeShrinkChangesNothing checks that letting the decoder
// box-filter (DecodeOptions.MinSide) gives the tensor Tensor would compute
// from the full image.
func TestTensor_DecodeShrinkChangesNothing(t *testing.T) {
	tests := []struct {
		w, h    int
		pre     model.Preprocess
		maxMean float64 // mean absolute difference allowed, in tensor units
	}{
		// Sides that are multiples of the factor: the same blocks, the
		// same numbers.
		{500, 400, torch(16, 20), 1e-6},
		{480, 320, caffe(16), 1e-6},
		// Remainders: the decoder drops a strip under one output pixel
		// wide, which moves this sharp-edged picture by a fraction of a
		// pixel: about 2.5 grey levels on average; allow 4.
		{509, 407, torch(16, 20), 4.0 / 255 / 0.225},
		{489, 329, caffe(16), 4},
	}
	for _, tt := range tests {
		m := pngImage(pattern(tt.w, tt.h))
		full := tensorOf(t, toRGB(m, 1), tt.pre)
		k := shrinkFactor(tt.w, tt.h, MinSideFor(tt.pre))
		if k < 5 {
			t.Fatalf("shrink factor %d: the test wants a large one", k)
		}
		small := tensorOf(t, toRGB(m, k), tt.pre)
		var sum float64
		for i := range full {
			sum += math.Abs(float64(full[i] - small[i]))
		}
		if mean := sum / float64(len(full)); mean > tt.maxMean {
			t.Errorf("%d×%d %s, factor %d: mean difference %.3g, want ≤ %.3g", tt.w, tt.h, tt.pre.Resize, k, mean, tt.maxMean)
		}
	}
}

func TestTensor_RefusesBadInput(t *testing.T) {
	img := pattern(10, 10)
	good := torch(8, 8)
	bad := map[string]func(*model.Preprocess){
		"zero size":          func(p *model.Preprocess) { p.Size = 0 },
		"shorter below crop": func(p *model.Preprocess) { p.ResizeShorter = 7 },
		"no resize policy":   func(p *model.Preprocess) { p.Resize = "" },
		"no layout":          func(p *model.Preprocess) { p.Layout = "CHW" },
		"no order":           func(p *model.Preprocess) { p.Order = "" },
		"zero scale":         func(p *model.Preprocess) { p.Scale = 0 },
		"zero std":           func(p *model.Preprocess) { p.Std[1] = 0 },
	}
	for name, mutate := range bad {
		pre := good
		mutate(&pre)
		if err := Tensor(make([]float32, 3*64), img, pre); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := Tensor(make([]float32, 3*64-1), img, good); err == nil {
		t.Error("short tensor: no error")
	}
	if err := Tensor(make([]float32, 3*64), &RGB{W: 2, H: 2, Pix: make([]uint8, 11)}, good); err == nil {
		t.Error("malformed image: no error")
	}
	if err := Tensor(make([]float32, 3*64), nil, good); err == nil {
		t.Error("nil image: no error")
	}
}

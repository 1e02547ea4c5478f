//go:build cgo

package extractor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
	"github.com/simsearch/simsearch/model"
)

// runFloat runs the model at path on in (batch images) and returns the
// float output called output, of c×h×w per image.
func runFloat(t *testing.T, rt *Runtime, path, output string, c, h, w int, in []float32, batch int) []float32 {
	t.Helper()
	spec := model.Spec{Name: filepath.Base(path), Path: path, Input: "data", Output: output, Channels: c, GridH: h, GridW: w, Pre: model.TorchPreprocess(16)}
	s, err := rt.NewSession(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(in, batch)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTestModel(t *testing.T, m *onnxpb.ModelProto, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := onnx.WriteModel(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// The feature exposed on an int8 model, whose last MaxPool runs on uint8,
// is dequantize(maxpool(q)): computed here by hand from the dequantized
// input of that pool (dequantizing is increasing, so it commutes with the
// max), which a probe copy of the model outputs.
func TestSession_QuantizedFeature(t *testing.T) {
	rt := openTestRuntime(t)
	cfg := onnx.VGGConfig{Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Dense: []int{6, 5}, Seed: 11}
	for _, tt := range []struct {
		name string
		form onnxtest.Form
	}{
		{"pool read by a DequantizeLinear", onnxtest.DequantizedPool},
		{"pool not dequantized", onnxtest.IntegerDense},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := onnxtest.QuantizedVGG(cfg, tt.form)
			if err != nil {
				t.Fatal(err)
			}
			probe := proto.Clone(q.Model).(*onnxpb.ModelProto)
			probe.Graph.Node = append(probe.Graph.Node, onnx.Node("DequantizeLinear", []string{q.Conv, q.Quant.Scale, q.Quant.ZeroPoint}, "probe"))
			if _, err := onnx.ExposeOutput(probe, "probe", nil); err != nil {
				t.Fatal(err)
			}
			f, err := onnx.ExposeFeatures(q.Model)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 2
			r := rand.New(rand.NewPCG(3, 4))
			in := make([]float32, batch*3*16*16)
			for i := range in {
				in[i] = float32(r.NormFloat64())
			}
			c, h, w := f.C, f.H, f.W
			got := runFloat(t, rt, writeTestModel(t, q.Model, "int8.onnx"), f.Name, c, h, w, in, batch)
			pre := runFloat(t, rt, writeTestModel(t, probe, "probe.onnx"), "probe", c, 2*h, 2*w, in, batch)
			distinct := map[float32]bool{}
			for b := range batch {
				for ch := range c {
					for i := range h {
						for j := range w {
							at := func(y, x int) float32 { return pre[((b*c+ch)*2*h+y)*2*w+x] }
							want := max(at(2*i, 2*j), at(2*i, 2*j+1), at(2*i+1, 2*j), at(2*i+1, 2*j+1))
							if g := got[((b*c+ch)*h+i)*w+j]; g != want {
								t.Fatalf("image %d channel %d (%d,%d): feature %g, dequantize(maxpool) %g", b, ch, i, j, g, want)
							}
							distinct[want] = true
						}
					}
				}
			}
			// A saturated or dead network would pass the comparison above
			// with every value equal.
			if len(distinct) < 20 {
				t.Errorf("only %d distinct feature values: the test network is degenerate", len(distinct))
			}
		})
	}
}

// zooStandIns are small models shaped as the catalog's vgg19 and
// vgg16-int8 (at 224, few channels but 512 in the last convolution), as
// Pull installs them from a file.
func TestPull_ZooStandInsRun(t *testing.T) {
	rt := openTestRuntime(t)
	shaped := func(full onnx.VGGConfig) onnx.VGGConfig {
		c := onnx.VGGConfig{Size: 224, InChannels: 3, Dense: []int{16, 1000}, Seed: 5}
		for _, b := range full.Blocks {
			c.Blocks = append(c.Blocks, slices.Repeat([]int{4}, len(b)))
		}
		c.Blocks[len(c.Blocks)-1][len(full.Blocks[len(full.Blocks)-1])-1] = 512
		return c
	}
	v19, err := onnx.NewVGG(shaped(onnx.VGG19Config(true)))
	if err != nil {
		t.Fatal(err)
	}
	q16, err := onnxtest.QuantizedVGG(shaped(onnx.VGG16Config(true)), onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		m       *onnxpb.ModelProto
		feature string
	}{
		{"vgg19", v19.Model, "block5_pool"},
		{"vgg16-int8", q16.Model, "block5_pool_dequantized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := onnx.EncodeModel(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "download.onnx")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			e, _ := model.Lookup(tt.name)
			sum := sha256.Sum256(b)
			e.Size, e.SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
			spec, err := model.Pull(context.Background(), e, t.TempDir(), &model.PullOptions{File: file})
			if err != nil {
				t.Fatal(err)
			}
			if spec.Output != tt.feature || spec.Logits != "predictions" || spec.Classes != 1000 {
				t.Errorf("spec output %s, logits %s (%d classes)", spec.Output, spec.Logits, spec.Classes)
			}
			s, err := rt.NewSession(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(5, 6))
			in := make([]float32, 2*3*224*224)
			for i := range in {
				in[i] = float32(r.NormFloat64())
			}
			fm, err := s.Run(in, 2) // a batch of 2: the batch is symbolic now
			if err != nil {
				t.Fatal(err)
			}
			if len(fm) != 2*512*7*7 {
				t.Fatalf("feature has %d values, want 2×512×7×7", len(fm))
			}
			nonzero := 0
			for _, x := range fm {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("feature value %v", x)
				}
				if x != 0 {
					nonzero++
				}
			}
			if nonzero == 0 {
				t.Error("the feature map is all zeros")
			}
		})
	}
}

// A registered image encoder (one vector per image) embeds end to end:
// decode, preprocess, network, no pooling, L2 and the centre, equal to
// the encoder computed in Go.
func TestExtractor_VectorModel(t *testing.T) {
	rt := openTestRuntime(t)
	enc := onnxtest.NewEncoder(16, 4, 8, 3)
	spec, err := model.Register(t.TempDir(), writeTestModel(t, enc.Model, "encoder.onnx"), model.Spec{Name: "enc", Pre: model.TorchPreprocess(16)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	var src []Source
	for i := range 4 {
		img := image.NewNRGBA(image.Rect(0, 0, 30+9*i, 24+4*i))
		r := rand.New(rand.NewPCG(uint64(i), 21))
		for p := range img.Pix {
			img.Pix[p] = uint8(r.IntN(256))
		}
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
		src = append(src, Source{Path: p, Decode: func(o *DecodeOptions) (*RGB, Info, error) { return DecodeFile(p, o) }})
	}
	want := make([][]float32, len(paths))
	for i, p := range paths {
		img, _, err := DecodeFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]float32, 3*16*16)
		if err := Tensor(in, img, spec.Pre); err != nil {
			t.Fatal(err)
		}
		want[i] = enc.Embed(in)
		index.Normalize(want[i])
	}
	embed := func(opts *Options) [][]float32 {
		t.Helper()
		ex, err := New(rt, spec, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Close()
		if ex.Dims() != 8 {
			t.Errorf("Dims = %d, want 8", ex.Dims())
		}
		got := make([][]float32, len(paths))
		err = ex.Files(context.Background(), paths, func(r Result) error {
			if r.Err != nil {
				return r.Err
			}
			got[r.Seq] = r.Vector
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	close := func(what string, got, want [][]float32) {
		t.Helper()
		for i := range want {
			for k := range want[i] {
				if d := math.Abs(float64(got[i][k] - want[i][k])); d > 1e-4 {
					t.Fatalf("%s: image %d value %d: pipeline %g, Go %g", what, i, k, got[i][k], want[i][k])
				}
			}
		}
	}
	close("raw", embed(&Options{Raw: true, Batch: 3}), want)

	centres, err := ComputeCentres(context.Background(), rt, spec, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(centres) != 1 || len(centres[model.None]) != 8 {
		t.Fatalf("centres = %v, want one 8-d centre for none", centres)
	}
	spec.Center = centres
	centred := make([][]float32, len(want))
	for i, v := range want {
		centred[i] = slices.Clone(v)
		Center(centred[i], centres[model.None])
	}
	close("centred", embed(nil), centred)

	if _, err := New(rt, spec, &Options{Pooling: model.MAC}); err == nil || !strings.Contains(err.Error(), "does not apply") {
		t.Errorf("New with mac pooling on a vector model: err = %v, want a clear refusal", err)
	}
}

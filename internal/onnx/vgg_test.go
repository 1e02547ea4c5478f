package onnx

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

// vgg16RandomSHA256 pins the bytes of vgg16-random: a change here means
// existing databases built with it no longer match, so it must be on purpose.
const vgg16RandomSHA256 = "d2c93cf575a2d4ab2a3334bd23dce69f43905604ca50cbf568477ef30966e95a"

func TestNewVGG_VGG16Trunk(t *testing.T) {
	v, err := NewVGG(VGG16Config(false))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Weights.Params(); got != 14_714_688 {
		t.Errorf("params = %d, want 14,714,688", got)
	}
	b, err := EncodeModel(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeModel(b)
	if err != nil {
		t.Fatal(err)
	}
	// Re-encoding compares every weight; proto.Equal would too, but
	// element by element through reflection, for minutes under -race.
	if again, err := EncodeModel(m); err != nil || !bytes.Equal(again, b) {
		t.Errorf("model changed in a protobuf round trip (err %v)", err)
	}
	shapes, err := InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := shapes["block5_pool"], []int64{-1, 512, 7, 7}; !slices.Equal(got, want) {
		t.Errorf("block5_pool shape = %v, want %v", got, want)
	}
	if want := (Feature{Name: "block5_pool", C: 512, H: 7, W: 7}); v.Feature != want || v.Output != want.Name {
		t.Errorf("feature = %+v, output %q; want %+v", v.Feature, v.Output, want)
	}
	if got := outputNames(m); !slices.Equal(got, []string{"block5_pool"}) {
		t.Errorf("outputs = %q, want only block5_pool", got)
	}
	if got := sha256Hex(b); got != vgg16RandomSHA256 {
		t.Errorf("vgg16-random sha256 = %s, want %s: the random weights or their encoding changed", got, vgg16RandomSHA256)
	}
}

func TestBuildVGG_Deterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := BuildVGG(&a, tinyConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildVGG(&b, tinyConfig()); err != nil {
		t.Fatal(err)
	}
	if sha256Hex(a.Bytes()) != sha256Hex(b.Bytes()) {
		t.Error("two builds of the same configuration differ")
	}
	other := tinyConfig()
	other.Seed++
	var c bytes.Buffer
	if _, err := BuildVGG(&c, other); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("another seed gave the same model")
	}
}

func TestNewVGG_HeInit(t *testing.T) {
	c := VGGConfig{Size: 8, InChannels: 16, Blocks: [][]int{{64}}, Dense: []int{256}, Seed: 3}
	v, err := NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range slices.Concat(v.Weights.Conv, v.Weights.Dense) {
		var sum, sq float64
		for _, w := range l.W {
			sum += float64(w)
			sq += float64(w) * float64(w)
		}
		n := float64(len(l.W))
		mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
		want := math.Sqrt(2 / float64(numel(l.Shape[1:])))
		if math.Abs(mean) > 4*want/math.Sqrt(n) || math.Abs(std/want-1) > 0.03 {
			t.Errorf("%s: mean %.4g std %.4g over %d weights, want 0 and %.4g", l.Name, mean, std, len(l.W), want)
		}
		for _, b := range l.B {
			if b != 0 {
				t.Errorf("%s: bias %v, want 0", l.Name, b)
				break
			}
		}
	}
}

func TestNewVGG_TrunkSharedWithDense(t *testing.T) {
	trunk := tinyConfig()
	trunk.Dense = nil
	a, err := NewVGG(trunk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Weights.Conv {
		if !slices.Equal(a.Weights.Conv[i].W, b.Weights.Conv[i].W) {
			t.Errorf("%s differs with and without dense layers", a.Weights.Conv[i].Name)
		}
	}
}

func TestNewVGG_SuppliedWeights(t *testing.T) {
	v, err := NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := v.Weights
	w.Conv[0].W[0] = 42
	c := tinyConfig()
	c.Weights = w
	got, err := NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model.GetGraph().GetInitializer()[0].GetFloatData()[0] != 42 {
		t.Error("supplied weights were not used")
	}

	bad := *w
	bad.Dense = bad.Dense[:1]
	c.Weights = &bad
	if _, err := NewVGG(c); !errors.Is(err, ErrConfig) {
		t.Errorf("missing dense layer: err = %v, want ErrConfig", err)
	}
	short := *w
	short.Conv = slices.Clone(w.Conv)
	short.Conv[1].W = short.Conv[1].W[:10]
	c.Weights = &short
	if _, err := NewVGG(c); !errors.Is(err, ErrConfig) {
		t.Errorf("short weights: err = %v, want ErrConfig", err)
	}
}

func TestNewVGG_BadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*VGGConfig)
	}{
		{"no size", func(c *VGGConfig) { c.Size = 0 }},
		{"no input channels", func(c *VGGConfig) { c.InChannels = 0 }},
		{"no blocks", func(c *VGGConfig) { c.Blocks = nil }},
		{"empty block", func(c *VGGConfig) { c.Blocks = [][]int{{4}, {}} }},
		{"zero channels", func(c *VGGConfig) { c.Blocks = [][]int{{4, 0}} }},
		{"too many pools", func(c *VGGConfig) { c.Blocks = [][]int{{1}, {1}, {1}, {1}, {1}, {1}} }},
		{"zero dense", func(c *VGGConfig) { c.Dense = []int{0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tinyConfig()
			tt.edit(&c)
			if _, err := NewVGG(c); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestNewVGG_VGG16Dense builds the full VGG16 with its classifier (553 MB
// of weights), checks its size and exposes pool5 on it as on the model zoo
// file. The weights are supplied as zeros: drawing 138M random numbers
// adds nothing the trunk test does not cover, and takes half a minute
// under -race.
func TestNewVGG_VGG16Dense(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 138M parameters; the down-scaled surgery test covers the logic")
	}
	c := VGG16Config(true)
	conv, dense := layerShapes(c)
	for _, ls := range [][]Layer{conv, dense} {
		for i := range ls {
			ls[i].W = make([]float32, numel(ls[i].Shape))
			ls[i].B = make([]float32, ls[i].Shape[0])
		}
	}
	c.Weights = &VGGWeights{Conv: conv, Dense: dense}
	v, err := NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Weights.Params(); got != 138_357_544 {
		t.Errorf("params = %d, want 138,357,544", got)
	}
	zooStyle(t, v.Model)
	f, err := ExposeFeatures(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Feature{Name: "block5_pool", C: 512, H: 7, W: 7}); f != want {
		t.Errorf("feature = %+v, want %+v", f, want)
	}
	if got := outputNames(v.Model); !slices.Equal(got, []string{"predictions", "block5_pool"}) {
		t.Errorf("outputs = %q, want the classifier kept and pool5 added", got)
	}
}

func TestDetLog(t *testing.T) {
	for _, x := range []float64{1, 0.5, 1e-300, 0.1, 0.7071, 0.999999, 0x1p-106} {
		got, want := detLog(x), math.Log(x)
		if math.Abs(got-want) > 4e-16*math.Max(1, math.Abs(want)) {
			t.Errorf("detLog(%g) = %.17g, want %.17g", x, got, want)
		}
	}
}

// vgg19RandomSHA256 pins the bytes of vgg19-random, as vgg16RandomSHA256
// does for vgg16-random.
const vgg19RandomSHA256 = "5d67be8787f568e53d1be8a7898f2b59dcb24c73865c503568839aca199d0f7a"

func TestNewVGG_VGG19Trunk(t *testing.T) {
	v, err := NewVGG(VGG19Config(false))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Weights.Params(); got != 20_024_384 {
		t.Errorf("params = %d, want 20,024,384", got)
	}
	if got := len(v.Weights.Conv); got != 16 {
		t.Errorf("%d convolutions, want 16", got)
	}
	if want := (Feature{Name: "block5_pool", C: 512, H: 7, W: 7}); v.Feature != want || v.Output != want.Name || v.Logits != "" {
		t.Errorf("feature = %+v, output %q, logits %q; want %+v and no classifier", v.Feature, v.Output, v.Logits, want)
	}
	shapes, err := InferShapes(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := shapes["block5_pool"], []int64{-1, 512, 7, 7}; !slices.Equal(got, want) {
		t.Errorf("block5_pool shape = %v, want %v", got, want)
	}
	b, err := EncodeModel(v.Model)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256Hex(b); got != vgg19RandomSHA256 {
		t.Errorf("vgg19-random sha256 = %s, want %s: the random weights or their encoding changed", got, vgg19RandomSHA256)
	}
	// With the classifier (counted from the shapes: its weights take 575 MB).
	conv, dense := layerShapes(VGG19Config(true))
	var n int64
	for _, l := range slices.Concat(conv, dense) {
		n += numel(l.Shape) + l.Shape[0]
	}
	if n != 143_667_240 {
		t.Errorf("params with the classifier = %d, want 143,667,240", n)
	}
}

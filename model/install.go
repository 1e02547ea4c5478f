package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/simsearch/simsearch/internal/atomicfile"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// ErrNotInstalled is returned when a model is not in the model directory.
var ErrNotInstalled = errors.New("model not installed")

// ErrSpec is returned for a Spec that cannot describe a usable model: a bad
// name, preprocessing values or tensor names.
var ErrSpec = errors.New("invalid model spec")

// DefaultDir returns the model cache directory: $SIMSEARCH_MODELS if set,
// else $XDG_CACHE_HOME/simsearch/models, else the platform's user cache
// directory followed by simsearch/models. getenv is os.Getenv in
// programs and a map lookup in tests.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("SIMSEARCH_MODELS"); d != "" {
		return d, nil
	}
	sub := filepath.Join("simsearch", "models")
	// The XDG spec says to ignore a relative XDG_CACHE_HOME.
	if d := getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, sub), nil
	}
	var base string
	switch runtime.GOOS {
	case "windows":
		base = getenv("LocalAppData")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			base = filepath.Join(h, "Library", "Caches")
		}
	case "plan9":
		if h := getenv("home"); h != "" {
			base = filepath.Join(h, "lib", "cache")
		}
	default:
		if h := getenv("HOME"); h != "" {
			base = filepath.Join(h, ".cache")
		}
	}
	if base == "" {
		return "", errors.New("find model directory: no home directory; set SIMSEARCH_MODELS")
	}
	return filepath.Join(base, sub), nil
}

// LoadSpec reads a model spec file. A relative Path in it is taken
// relative to the spec file's directory, and returned absolute.
func LoadSpec(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("load spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("load spec %s: %w", path, err)
	}
	if s.Path != "" && !filepath.IsAbs(s.Path) {
		s.Path = filepath.Join(filepath.Dir(path), s.Path)
		// Absolute, so that saving the spec again (from any directory)
		// records the same file.
		if abs, err := filepath.Abs(s.Path); err == nil {
			s.Path = abs
		}
	}
	return s, nil
}

// SaveSpec writes s as indented JSON to path, atomically. A model file in
// the spec's directory (or below it) is recorded relative to it, so the
// models directory can be moved or copied whole.
func SaveSpec(path string, s Spec) error {
	if filepath.IsAbs(s.Path) {
		if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
			if rel, err := filepath.Rel(dir, s.Path); err == nil && filepath.IsLocal(rel) {
				s.Path = rel
			}
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save spec: %w", err)
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// Load returns the spec of the installed model called name in dir. It
// wraps ErrNotInstalled when the spec or its ONNX file is missing.
func Load(dir, name string) (Spec, error) {
	if err := checkName(name); err != nil {
		return Spec{}, err
	}
	s, err := LoadSpec(filepath.Join(dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Spec{}, fmt.Errorf("load model %s: %w", name, ErrNotInstalled)
	}
	if err != nil {
		return Spec{}, err
	}
	if _, err := os.Stat(s.Path); err != nil {
		return Spec{}, fmt.Errorf("load model %s: %w: %v", name, ErrNotInstalled, err)
	}
	return s, nil
}

// Installed lists the models installed in dir, sorted by name. A missing
// directory holds no models.
func Installed(dir string) ([]Spec, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var specs []Spec
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || checkName(name) != nil {
			continue
		}
		s, err := LoadSpec(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	slices.SortFunc(specs, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	return specs, nil
}

// Verify hashes the model file and compares it with s.SHA256; a mismatch
// wraps ErrChecksum.
func (s *Spec) Verify() error {
	f, err := os.Open(s.Path)
	if err != nil {
		return fmt.Errorf("verify model %s: %w", s.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("verify model %s: %w", s.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
		return fmt.Errorf("verify model %s: %w: %s has sha256 %s, want %s", s.Name, ErrChecksum, s.Path, got, s.SHA256)
	}
	return nil
}

// Fingerprint identifies the vectors this model gives with pooling p: a
// hex SHA-256 over the model file's digest, the feature tensor and its
// size, the preprocessing and the centre vector for p. Vectors with
// different fingerprints must not be compared.
func (s *Spec) Fingerprint(p Pooling) string {
	h := sha256.New()
	pre := s.Pre
	fmt.Fprintf(h, "simsearch fingerprint 1\nmodel %s\ninput %q\noutput %q %s %d %d %d\npooling %q\n",
		s.SHA256, s.Input, s.Output, orDefault(s.OutputLayout, NCHW), s.Channels, s.GridH, s.GridW, p)
	fmt.Fprintf(h, "pre %d %q %d %q %q", pre.Size, pre.Resize, pre.ResizeShorter, pre.Layout, pre.Order)
	if pre.Standardize {
		fmt.Fprint(h, " standardize")
	}
	for _, v := range slices.Concat([]float32{pre.Scale}, pre.Mean[:], pre.Std[:]) {
		fmt.Fprintf(h, " %08x", math.Float32bits(v))
	}
	c := s.Center[p]
	fmt.Fprintf(h, "\ncenter %d", len(c))
	for _, v := range c {
		fmt.Fprintf(h, " %08x", math.Float32bits(v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) || strings.HasSuffix(name, ".part") {
		return fmt.Errorf("%w: model name %q: use letters, digits, '.', '_' and '-'", ErrSpec, name)
	}
	return nil
}

// Validate checks that p describes a usable preprocessing.
func (p Preprocess) Validate() error {
	switch {
	case p.Size <= 0 || p.Size > 8192:
		return fmt.Errorf("%w: input size %d", ErrSpec, p.Size)
	case p.Resize != ResizeCrop && p.Resize != ResizeSquash:
		return fmt.Errorf("%w: resize policy %q, want %q or %q", ErrSpec, p.Resize, ResizeCrop, ResizeSquash)
	case p.Resize == ResizeCrop && p.ResizeShorter < p.Size:
		return fmt.Errorf("%w: shorter side %d is smaller than the %d crop", ErrSpec, p.ResizeShorter, p.Size)
	case p.Layout != NCHW && p.Layout != NHWC:
		return fmt.Errorf("%w: layout %q, want %q or %q", ErrSpec, p.Layout, NCHW, NHWC)
	case p.Order != RGB && p.Order != BGR:
		return fmt.Errorf("%w: channel order %q, want %q or %q", ErrSpec, p.Order, RGB, BGR)
	case !(p.Scale > 0) || math.IsInf(float64(p.Scale), 0):
		return fmt.Errorf("%w: scale %v", ErrSpec, p.Scale)
	}
	for i := range 3 {
		if !(p.Std[i] > 0) || math.IsInf(float64(p.Std[i]), 0) || math.IsNaN(float64(p.Mean[i])) {
			return fmt.Errorf("%w: channel %d has mean %v and std %v", ErrSpec, i, p.Mean[i], p.Std[i])
		}
	}
	return nil
}

// install writes m as dir/<name>.onnx and s, completed with the file's
// path and digest, as dir/<name>.json; the spec is written last, so a
// model is installed exactly when its spec file exists.
func install(dir string, m *onnxpb.ModelProto, s Spec) (Spec, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Spec{}, fmt.Errorf("install %s: %w", s.Name, err)
	}
	b, err := onnx.EncodeModel(m)
	if err != nil {
		return Spec{}, err
	}
	sum := sha256.Sum256(b)
	s.SHA256 = hex.EncodeToString(sum[:])
	s.Quantized = quantization(m.GetGraph())
	if s.Path, err = filepath.Abs(filepath.Join(dir, s.Name+".onnx")); err != nil {
		return Spec{}, fmt.Errorf("install %s: %w", s.Name, err)
	}
	if err := atomicfile.WriteBytes(s.Path, b); err != nil {
		return Spec{}, err
	}
	if err := SaveSpec(filepath.Join(dir, s.Name+".json"), s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// BuildRandom builds the random catalog entry e (vgg16-random or
// vgg19-random: the trunk with deterministic He-normal weights, see
// onnx.NewVGG) and installs it in dir.
func BuildRandom(dir string, e Entry) (Spec, error) {
	c, ok := randomConfig(e.Name)
	if !ok || !e.Spec.Random {
		return Spec{}, fmt.Errorf("build %s: %w: not a random catalog model", e.Name, ErrSpec)
	}
	v, err := onnx.NewVGG(c)
	if err != nil {
		return Spec{}, err
	}
	s := e.Spec
	s.Output, s.Channels, s.GridH, s.GridW = v.Feature.Name, v.Feature.C, v.Feature.H, v.Feature.W
	if v.Logits != "" {
		s.Logits, s.Classes = v.Logits, c.Dense[len(c.Dense)-1]
	}
	return install(dir, v.Model, s)
}

// Register installs a user's own ONNX file in dir under s.Name, so that a
// Keras or PyTorch export can be used. s gives the preprocessing, the
// input name (may be empty when the graph has one input) and the feature
// output (may be empty: the last MaxPool is used, dequantized in an int8
// model, or the graph's only output when it has no MaxPool). The output is made a graph output and
// checked by shape: a 4-D map, whose layout is s.OutputLayout or worked
// out from its shape when empty, or an N×D matrix, one vector per image
// (an image encoder such as CLIP's), which is used as it is (pooling
// None, Channels D, a 1×1 grid).
//
// The classifier output is s.Logits when set, else the one graph output of
// a map model that is an N×K matrix, if there is exactly one; s.Labels may
// name its classes (LabelsImageNet, for K = 1,000). Pooling and Threshold
// default to those of vgg16.
func Register(dir, onnxPath string, s Spec) (Spec, error) {
	if err := checkName(s.Name); err != nil {
		return Spec{}, err
	}
	if err := s.Pre.Validate(); err != nil {
		return Spec{}, err
	}
	if s.Labels != "" && s.Labels != LabelsImageNet {
		return Spec{}, fmt.Errorf("register %s: %w: unknown labels %q (the known class list is %s)", s.Name, ErrSpec, s.Labels, LabelsImageNet)
	}
	m, err := onnx.ReadModel(onnxPath)
	if err != nil {
		return Spec{}, err
	}
	g := m.GetGraph()
	inputs := onnx.GraphInputs(g)
	var in *onnxpb.ValueInfoProto
	for _, v := range inputs {
		if v.GetName() == s.Input || s.Input == "" && len(inputs) == 1 {
			in = v
		}
	}
	if in == nil {
		var names []string
		for _, v := range inputs {
			names = append(names, v.GetName())
		}
		return Spec{}, fmt.Errorf("register %s: %w: no input %q; the graph's inputs are %q", s.Name, ErrSpec, s.Input, names)
	}
	s.Input = in.GetName()
	size := int64(s.Pre.Size)
	want := []int64{-1, 3, size, size}
	if s.Pre.Layout == NHWC {
		want = []int64{-1, size, size, 3}
	}
	if dims, ok := onnx.ValueInfoDims(in); ok {
		if len(dims) != 4 {
			return Spec{}, fmt.Errorf("register %s: %w: input %q has rank %d, want 4", s.Name, ErrSpec, s.Input, len(dims))
		}
		for i := 1; i < 4; i++ {
			if dims[i] >= 0 && dims[i] != want[i] {
				return Spec{}, fmt.Errorf("register %s: %w: input %q is %v, want %v for %s at size %d",
					s.Name, ErrSpec, s.Input, dims, want, s.Pre.Layout, size)
			}
		}
	}
	override := map[string][]int64{s.Input: want}
	out := s.Output
	if out == "" {
		// The last MaxPool (dequantized in an int8 model), else the only
		// output.
		if f, err := onnx.FeatureTensor(m); err == nil {
			out = f
		} else if !errors.Is(err, onnx.ErrNoFeature) {
			return Spec{}, fmt.Errorf("register %s: %w", s.Name, err)
		}
		if out == "" && len(g.GetOutput()) == 1 {
			out = g.GetOutput()[0].GetName() // an encoder: its output is the vector
		}
		if out == "" {
			return Spec{}, fmt.Errorf("register %s: %w: no MaxPool and several outputs; name the feature output", s.Name, onnx.ErrNoFeature)
		}
	}
	var producer *onnxpb.NodeProto
	for _, n := range g.GetNode() {
		if slices.Contains(n.GetOutput(), out) {
			producer = n
		}
	}
	if producer == nil {
		return Spec{}, fmt.Errorf("register %s: %w: no tensor %q in the graph", s.Name, ErrSpec, out)
	}
	dims, _, err := onnx.TensorDims(m, out, override)
	if err != nil {
		return Spec{}, fmt.Errorf("register %s: %w", s.Name, err)
	}
	if len(dims) == 2 {
		if s.Pooling != "" && s.Pooling != None {
			return Spec{}, fmt.Errorf("register %s: %w: %s is one %d-d vector per image, which is used as it is: pooling %q does not apply (leave it out, or use %q)",
				s.Name, ErrSpec, out, dims[1], s.Pooling, None)
		}
		dims, err := onnx.ExposeVector(m, out, override)
		if err != nil {
			return Spec{}, fmt.Errorf("register %s: %w", s.Name, err)
		}
		s.Channels, s.GridH, s.GridW = int(dims[1]), 1, 1
		s.OutputLayout, s.Pooling = NCHW, None
	} else {
		if s.Pooling == None {
			return Spec{}, fmt.Errorf("register %s: %w: pooling %q is for models that output one vector per image; %s is a feature map",
				s.Name, ErrSpec, None, out)
		}
		dims, err := onnx.ExposeOutput(m, out, override)
		if err != nil {
			return Spec{}, fmt.Errorf("register %s: %w", s.Name, err)
		}
		layout := s.OutputLayout
		if layout == "" {
			layout = guessLayout(producer, dims)
		}
		switch layout {
		case NCHW:
			s.Channels, s.GridH, s.GridW = int(dims[1]), int(dims[2]), int(dims[3])
		case NHWC:
			s.GridH, s.GridW, s.Channels = int(dims[1]), int(dims[2]), int(dims[3])
		default:
			return Spec{}, fmt.Errorf("register %s: %w: output layout %q", s.Name, ErrSpec, layout)
		}
		s.OutputLayout = layout
		s.Pooling = orDefault(s.Pooling, MAC) // TODO(calibrate): as vgg16
	}
	s.Output = out
	if s.Logits, s.Classes, err = registerLogits(m, s, out); err != nil {
		return Spec{}, fmt.Errorf("register %s: %w", s.Name, err)
	}
	if s.Labels == LabelsImageNet && s.Classes != 1000 {
		if s.Logits == "" {
			return Spec{}, fmt.Errorf("register %s: %w: --labels %s needs a classifier output (name it with --logits)", s.Name, ErrSpec, s.Labels)
		}
		return Spec{}, fmt.Errorf("register %s: %w: labels %s are 1000 classes, classifier output %s has %d", s.Name, ErrSpec, s.Labels, s.Logits, s.Classes)
	}
	s.Threshold = orDefault(s.Threshold, float32(0.90)) // TODO(calibrate): as vgg16
	return install(dir, m, s)
}

// registerLogits makes the classifier output of a registered model a graph
// output: the one named in s, else the single N×K graph output of a map
// model.
func registerLogits(m *onnxpb.ModelProto, s Spec, feature string) (string, int, error) {
	if s.Logits != "" {
		l, err := onnx.ExposeLogits(m, s.Logits)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %w", ErrSpec, err)
		}
		return l.Name, l.Classes, nil
	}
	if s.Pooling == None {
		return "", 0, nil // the N×D output is the embedding, not scores
	}
	found, err := onnx.FindLogits(m)
	if err != nil {
		return "", 0, err
	}
	found = slices.DeleteFunc(found, func(l onnx.Logits) bool { return l.Name == feature })
	if len(found) != 1 {
		return "", 0, nil
	}
	l, err := onnx.ExposeLogits(m, found[0].Name)
	if err != nil {
		return "", 0, err
	}
	return l.Name, l.Classes, nil
}

// guessLayout tells NCHW from NHWC for a feature map: ONNX's convolution
// and pooling operators are always NCHW, the Transpose that ends a Keras
// export says where it moves the channels, and otherwise a square grid
// with a different depth decides.
func guessLayout(producer *onnxpb.NodeProto, dims []int64) Layout {
	switch producer.GetOpType() {
	case "MaxPool", "AveragePool", "Conv", "Relu":
		return NCHW
	case "Transpose":
		switch perm := onnx.AttrInts(producer, "perm"); {
		case slices.Equal(perm, []int64{0, 2, 3, 1}):
			return NHWC
		case slices.Equal(perm, []int64{0, 3, 1, 2}):
			return NCHW
		}
	}
	if dims[1] == dims[2] && dims[3] != dims[1] {
		return NHWC
	}
	return NCHW
}

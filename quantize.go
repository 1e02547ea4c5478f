package simsearch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/internal/reference"
	"github.com/simsearch/simsearch/model"
)

// Calibration rules for QuantizeOptions.Calibration: how the range of
// each activation is chosen from its values over the reference photos.
const (
	CalibrationMax        = string(quantize.Max)        // the observed range
	CalibrationPercentile = string(quantize.Percentile) // |x| clipped at its 99.99th percentile
	CalibrationMSE        = string(quantize.MSE)        // the range of least squared error
)

// DefaultCalibration is the rule QuantizeModel uses when none is given.
// Measured with vgg16-random (TestQuantize_Rules, figures there).
const DefaultCalibration = CalibrationMSE

// ErrPretrainedInt8 means the catalog already has an int8 model of the
// one to quantize, made by its authors (vgg16-int8 for vgg16): simsearch
// does not install its own under that name. Pull that model, or give
// QuantizeOptions.Name to keep both.
var ErrPretrainedInt8 = errors.New("the catalog has a pretrained int8 model of it")

// ErrQuantizedExists means the int8 model is already installed; set
// QuantizeOptions.Force to make it again.
var ErrQuantizedExists = errors.New("int8 model already installed")

// QuantizeOptions configure QuantizeModel; nil means the defaults.
type QuantizeOptions struct {
	// Calibration is the rule for activation ranges: CalibrationMax,
	// CalibrationPercentile or CalibrationMSE; "" means
	// DefaultCalibration.
	Calibration string
	// Name is the int8 model's name; "" means NAME-int8
	// (model.QuantizedName).
	Name string
	// Force replaces an installed model of that name.
	Force bool
	// QuantizeInput also quantizes the image input of the first
	// convolution, which otherwise stays float (see TestQuantize_Rules).
	QuantizeInput bool
	// Progress, when set, is called as calibration goes through the
	// reference photos: with done 0 when it starts, then after each one.
	Progress func(done, total int)
}

// Quantized is what QuantizeModel made.
type Quantized struct {
	Spec        model.Spec // the installed int8 model
	Base        model.Spec // the float model it was made from
	Calibration string     // the rule used
	// Agreement is the cosine between the int8 and float embeddings of
	// each reference photo, with the model's pooling and centres.
	Agreement Agreement
}

// Agreement summarises cosines between two models' embeddings of the
// same photos.
type Agreement struct {
	Photos      int
	Median, Min float32
}

// QuantizeModel makes an int8 model from the float model opts names
// (prepared first, as PrepareModel does) and installs it in the same
// model directory: per-channel int8 weights and uint8 activations in
// the QDQ form that ONNX Runtime runs as integer convolutions, with
// ranges calibrated on the embedded reference photos, then its own
// post-processing centres. It keeps the float model's pooling and
// threshold (the accuracy gates in quantize_test.go check that they
// hold) and its random-weights label. Its fingerprint is its own, so a
// database built with the float model refuses its vectors.
func QuantizeModel(ctx context.Context, opts *ModelOptions, qo *QuantizeOptions) (*Quantized, error) {
	var o QuantizeOptions
	if qo != nil {
		o = *qo
	}
	rule, err := quantize.ParseRule(orString(o.Calibration, DefaultCalibration))
	if err != nil {
		return nil, err
	}
	resolved, err := newModel(opts)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		from := resolved.opts.Name
		if e, ok := model.PretrainedInt8(from); ok {
			return nil, fmt.Errorf("quantize %s: %w: %s", from, ErrPretrainedInt8, e.Name)
		}
		name = model.QuantizedName(from)
	}
	if _, ok := model.Lookup(name); ok {
		return nil, fmt.Errorf("quantize %s: %w: %s is a catalog model's name", resolved.opts.Name, model.ErrSpec, name)
	}
	base, err := PrepareModel(ctx, &resolved.opts)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	bs := base.Spec()
	dir, log := base.opts.Dir, base.opts.Log
	if _, err := model.Load(dir, name); err == nil && !o.Force {
		return nil, fmt.Errorf("quantize %s: %w: %s", bs.Name, ErrQuantizedExists, name)
	}
	plan, err := quantize.AnalyseFile(bs.Path, bs.Output, &quantize.Options{QuantizeInput: o.QuantizeInput})
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	rt, err := base.runtime()
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	fmt.Fprintf(log, "calibrating %d activations of %s on %d reference photos\n", len(plan.Tensors), bs.Name, len(reference.Names()))
	hists, err := calibrate(ctx, rt, bs, plan, base.opts.Threads, o.Progress)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	return installQuantized(ctx, base, plan, hists, rule, name)
}

// installQuantized writes the int8 model of plan with the ranges rule
// picks from hists, computes its centres and measures its agreement
// with base.
func installQuantized(ctx context.Context, base *Model, plan *quantize.Plan, hists []*quantize.Histogram, rule quantize.Rule, name string) (*Quantized, error) {
	bs, dir, log := base.Spec(), base.opts.Dir, base.opts.Log
	g, err := plan.Quantize(quantize.Ranges(hists, rule))
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	s := bs
	s.Name = name
	s.Description = fmt.Sprintf("%s; int8 by simsearch (%s calibration on %d reference photos)", bs.Description, rule, len(reference.Names()))
	if s.Random && !strings.Contains(s.Description, model.RandomDescription) {
		s.Description += "; " + model.RandomDescription
	}
	s, err = model.InstallQuantized(dir, g, s)
	if err != nil {
		return nil, err
	}
	mo := base.opts
	mo.Name = name
	q, err := PrepareModel(ctx, &mo) // computes its centres
	if err != nil {
		os.Remove(filepath.Join(dir, name+".json"))
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	defer q.Close()
	fmt.Fprintf(log, "measuring %s against %s on the reference photos\n", name, bs.Name)
	a, err := agreement(ctx, base, q)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", bs.Name, err)
	}
	return &Quantized{Spec: q.Spec(), Base: bs, Calibration: string(rule), Agreement: a}, nil
}

// calibrate runs the float model over the reference photos with plan's
// tensors exposed and returns their histograms; progress, when set, hears
// of each photo.
func calibrate(ctx context.Context, rt *extractor.Runtime, spec model.Spec, plan *quantize.Plan, threads int, progress func(done, total int)) ([]*quantize.Histogram, error) {
	b, err := plan.ProbeBytes()
	if err != nil {
		return nil, err
	}
	p, err := rt.NewProbe(b, spec.Input, plan.Tensors, threads)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	hists := make([]*quantize.Histogram, len(plan.Tensors))
	for i := range hists {
		hists[i] = &quantize.Histogram{}
	}
	n := spec.Pre.Size
	shape := []int64{1, 3, int64(n), int64(n)}
	if spec.Pre.Layout == model.NHWC {
		shape = []int64{1, int64(n), int64(n), 3}
	}
	in := make([]float32, 3*n*n)
	used := 0
	srcs := referenceSources()
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(srcs))
	for i, src := range srcs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i > 0 {
			progress(i, len(srcs))
		}
		img, _, err := src.Decode(&extractor.DecodeOptions{MinSide: extractor.MinSideFor(spec.Pre)})
		if err != nil {
			continue // as ComputeCentres: a photo that fails is skipped
		}
		if err := extractor.Tensor(in, img, spec.Pre); err != nil {
			continue
		}
		outs, err := p.Run(in, shape)
		if err != nil {
			return nil, err
		}
		for i, o := range outs {
			hists[i].Add(o)
		}
		used++
	}
	progress(len(srcs), len(srcs))
	if used == 0 {
		return nil, extractor.ErrNoCentre
	}
	return hists, nil
}

// agreement embeds the reference photos with a and b and summarises the
// cosines of each photo's two vectors.
func agreement(ctx context.Context, a, b *Model) (Agreement, error) {
	va, err := referenceVectors(ctx, a)
	if err != nil {
		return Agreement{}, err
	}
	vb, err := referenceVectors(ctx, b)
	if err != nil {
		return Agreement{}, err
	}
	var cos []float32
	for i, x := range va {
		if x != nil && vb[i] != nil {
			cos = append(cos, cosine(x, vb[i]))
		}
	}
	return summarise(cos), nil
}

// summarise gives the median and minimum of cosines.
func summarise(cos []float32) Agreement {
	if len(cos) == 0 {
		return Agreement{}
	}
	s := slices.Clone(cos)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Agreement{Photos: len(s), Median: med, Min: s[0]}
}

func referenceVectors(ctx context.Context, m *Model) ([][]float32, error) {
	src := referenceSources()
	out := make([][]float32, len(src))
	err := m.sources(ctx, src, func(r Embedding) error {
		if r.Err == nil {
			out[r.Seq] = r.Vector
		}
		return nil
	})
	return out, err
}

func cosine(a, b []float32) float32 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

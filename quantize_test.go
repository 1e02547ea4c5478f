package simsearch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// quantizedVariants are the int8 models of vgg16-random the tests
// compare, made on first use: by calibration rule, and with "+input" the
// first convolution's input quantized too.
var quantizedVariants = struct {
	mu    sync.Mutex
	hists map[string]*calibration
	byKey map[string]*Quantized
}{hists: map[string]*calibration{}, byKey: map[string]*Quantized{}}

type calibration struct {
	plan  *quantize.Plan
	hists []*quantize.Histogram
}

// quantizedRandom returns vgg16-random and its int8 variant key
// ("mse", "max", "percentile", each optionally "+input").
func quantizedRandom(t testing.TB, rt *extractor.Runtime, key string) (model.Spec, *Quantized) {
	t.Helper()
	base := randomModel(t, rt)
	v := &quantizedVariants
	v.mu.Lock()
	defer v.mu.Unlock()
	if q, ok := v.byKey[key]; ok {
		return base, q
	}
	rule, variant, _ := strings.Cut(key, "+")
	input := variant == "input"
	ctx := context.Background()
	m, err := PrepareModel(ctx, &ModelOptions{Dir: testModels.dir, Name: base.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := v.hists[variant]
	if c == nil {
		plan, err := quantize.AnalyseFile(base.Path, base.Output, &quantize.Options{QuantizeInput: input})
		if err != nil {
			t.Fatal(err)
		}
		hists, err := calibrate(ctx, rt, base, plan, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		c = &calibration{plan, hists}
		v.hists[variant] = c
	}
	name := "vgg16-random-int8-" + strings.ReplaceAll(key, "+", "-")
	q, err := installQuantized(ctx, m, c.plan, c.hists, quantize.Rule(rule), name)
	if err != nil {
		t.Fatal(err)
	}
	v.byKey[key] = q
	return base, q
}

// variantKeys are the variants TestQuantize_Rules compares.
var variantKeys = []string{"max", "percentile", "mse", "mse+input"}

// sampleCosines is the cosine between a's and b's embeddings (pooled with
// each model's default pooling and centre) of each sample photo.
func sampleCosines(t testing.TB, a, b model.Spec, ma, mb [][]float32) []float32 {
	t.Helper()
	va, vb := pooled(t, a, a.Pooling, ma), pooled(t, b, b.Pooling, mb)
	cos := make([]float32, len(va))
	for i := range va {
		cos[i] = cosine(va[i], vb[i])
	}
	return cos
}

// TestQuantize_Rules measures every calibration rule, and quantizing the
// first layer's input, on the sample photos and their copies: agreement
// with fp32 and the dedup figures. Run with -v for the table.
func TestQuantize_Rules(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to measure every rule (minutes)")
	}
	rt := openRuntime(t)
	base := randomModel(t, rt)
	paths, original := samplePhotos(t)
	fm := featureMaps(t, rt, base, paths)
	fr := calibrationReport(t, base, base.Pooling, paths, original, fm)
	fd := fr.At[len(calibrationThresholds)]
	t.Logf("fp32: pair P %.3f R %.3f F1 %.3f at %.2f, margin %+.3f, mAP %.3f, R@%d %.3f", fd.Precision, fd.Recall, fd.F1, base.Threshold, fr.Margin, fr.MAP, fr.AtK[0].K, fr.AtK[0].Recall)
	for _, key := range variantKeys {
		_, q := quantizedRandom(t, rt, key)
		qm := featureMaps(t, rt, q.Spec, paths)
		a := summarise(sampleCosines(t, base, q.Spec, fm, qm))
		r := calibrationReport(t, q.Spec, q.Spec.Pooling, paths, original, qm)
		d := r.At[len(calibrationThresholds)]
		t.Logf("%-17s reference cos median %.4f min %.4f; sample cos median %.4f min %.4f; pair P %.3f R %.3f F1 %.3f, margin %+.3f, mAP %.3f, R@%d %.3f",
			key, q.Agreement.Median, q.Agreement.Min, a.Median, a.Min, d.Precision, d.Recall, d.F1, r.Margin, r.MAP, r.AtK[0].K, r.AtK[0].Recall)
	}
}

// TestQuantize_Speed times the raw sessions of vgg16-random and its
// int8 model, batch 1 and 8, 2 threads, alternating one run of each so
// that both see the same load (the ratio holds under load; absolute
// figures do not), and lists the operators ONNX Runtime ran the int8
// graph with. Set SIMSEARCH_MEASURE=1.
func TestQuantize_Speed(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to time the sessions")
	}
	rt := openRuntime(t)
	base, q := quantizedRandom(t, rt, DefaultCalibration)
	specs := []model.Spec{base, q.Spec}
	cache := t.TempDir()
	var sess [2]*extractor.Session
	for i, s := range specs {
		var err error
		if sess[i], err = rt.NewSession(s, &extractor.SessionOptions{Threads: 2, CacheDir: cache}); err != nil {
			t.Fatal(err)
		}
		defer sess[i].Close()
	}
	if path, _ := sess[1].GraphCache(); path != "" {
		m, err := onnx.ReadModel(path)
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]int{}
		for _, n := range m.GetGraph().GetNode() {
			ops[n.GetOpType()]++
		}
		t.Logf("int8 graph as ONNX Runtime optimised it: %v", ops)
	}
	for _, batch := range []int{1, 8} {
		n := base.Pre.Size
		in := make([]float32, batch*3*n*n)
		for j := range in {
			in[j] = float32(j%255)/64 - 2
		}
		var spent [2]time.Duration
		rounds := 0
		for start := time.Now(); time.Since(start) < 40*time.Second || rounds < 2; rounds++ {
			for i, s := range sess {
				t0 := time.Now()
				if _, err := s.Run(in, batch); err != nil {
					t.Fatal(err)
				}
				if rounds > 0 { // the first round warms up
					spent[i] += time.Since(t0)
				}
			}
		}
		rate := func(i int) float64 { return float64((rounds-1)*batch) / spent[i].Seconds() }
		t.Logf("batch %d, 2 threads, %d rounds: fp32 %.2f images/s, int8 %.2f images/s, int8/fp32 %.2f", batch, rounds-1, rate(0), rate(1), rate(1)/rate(0))
	}
	for _, s := range specs {
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", s.Name, fi.Size())
	}
}

// TestQuantize_Gates is the accuracy gate of the int8 model that
// QuantizeModel makes by default, on the sample photos and their
// generated copies: its embeddings agree with fp32's, and dedup and
// retrieval give the same answers at the threshold it keeps from fp32.
func TestQuantize_Gates(t *testing.T) {
	rt := openRuntime(t)
	base, q := quantizedRandom(t, rt, DefaultCalibration)
	s := q.Spec
	if s.Threshold != base.Threshold || s.Pooling != base.Pooling || !s.Random {
		t.Fatalf("int8 spec: threshold %.2f pooling %s random %v, want fp32's %.2f %s and random", s.Threshold, s.Pooling, s.Random, base.Threshold, base.Pooling)
	}
	if s.Fingerprint(s.Pooling) == base.Fingerprint(base.Pooling) {
		t.Fatal("int8 and fp32 models share a fingerprint")
	}
	paths, original := samplePhotos(t)
	fm, qm := featureMaps(t, rt, base, paths), featureMaps(t, rt, s, paths)
	a := summarise(sampleCosines(t, base, s, fm, qm))
	t.Logf("cosine int8 vs fp32 over %d sample photos: median %.4f, min %.4f; reference photos: median %.4f, min %.4f",
		a.Photos, a.Median, a.Min, q.Agreement.Median, q.Agreement.Min)
	if a.Median < gateMedian || a.Min < gateMin {
		t.Errorf("cosine int8 vs fp32: median %.4f min %.4f, want ≥ %.2f and ≥ %.2f", a.Median, a.Min, gateMedian, gateMin)
	}
	if q.Agreement.Median < gateMedian || q.Agreement.Min < gateMin {
		t.Errorf("QuantizeModel's agreement: median %.4f min %.4f, want ≥ %.2f and ≥ %.2f", q.Agreement.Median, q.Agreement.Min, gateMedian, gateMin)
	}
	fr := calibrationReport(t, base, base.Pooling, paths, original, fm)
	qr := calibrationReport(t, s, s.Pooling, paths, original, qm)
	fd, qd := fr.At[len(calibrationThresholds)], qr.At[len(calibrationThresholds)]
	t.Logf("dedup at %.2f: fp32 P %.3f R %.3f F1 %.3f, int8 P %.3f R %.3f F1 %.3f; margin fp32 %+.3f int8 %+.3f",
		s.Threshold, fd.Precision, fd.Recall, fd.F1, qd.Precision, qd.Recall, qd.F1, fr.Margin, qr.Margin)
	if qd.Precision != fd.Precision || qd.Recall != fd.Recall || qd.F1 != fd.F1 {
		t.Errorf("dedup pairs at %.2f: int8 P %.3f R %.3f F1 %.3f, fp32 %.3f %.3f %.3f", s.Threshold, qd.Precision, qd.Recall, qd.F1, fd.Precision, fd.Recall, fd.F1)
	}
	if lo, hi := qr.LowestTrue[0].Score, qr.HighestOther[0].Score; lo < s.Threshold || hi >= s.Threshold {
		t.Errorf("int8 at %.2f: copies ≥ %.3f, different photos ≤ %.3f: the threshold is not in the gap", s.Threshold, lo, hi)
	}
	for i, k := range fr.AtK {
		t.Logf("recall@%d: fp32 %.3f int8 %.3f", k.K, k.Recall, qr.AtK[i].Recall)
		if qr.AtK[i] != k {
			t.Errorf("@%d: int8 precision %.3f recall %.3f, fp32 %.3f %.3f", k.K, qr.AtK[i].Precision, qr.AtK[i].Recall, k.Precision, k.Recall)
		}
	}
	if qr.MAP != fr.MAP {
		t.Errorf("mAP: int8 %.4f, fp32 %.4f", qr.MAP, fr.MAP)
	}
}

// The agreement gates. Measured with vgg16-random (TestQuantize_Rules,
// 55 sample photos / 32 reference photos, cosine of the centred R-MAC
// vectors, int8 against fp32):
//
//	rule        sample median  min     reference median  min
//	max         0.9767         0.9589  0.9831            0.9685
//	percentile  0.9886         0.8844  0.9908            0.9330
//	mse         0.9858         0.9775  0.9891            0.9810
//	mse+input   0.9850         0.9721  0.9895            0.9822
//
// mse is the default: percentile's median is a little higher but it
// clips photos with strong responses (its minimum 0.88); quantizing the
// image input too lowers the sample minimum. Every rule keeps dedup pair
// precision and recall at 1.000 and recall@k equal to fp32's.
const (
	gateMedian = 0.98
	gateMin    = 0.97
)

// TestQuantizeModel_Refuses checks what QuantizeModel refuses before any
// calibration: an unknown rule, a model whose int8 form the catalog has
// from a pretrained source, a catalog name for the result, and an int8
// model already installed.
func TestQuantizeModel_Refuses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		mo   ModelOptions
		qo   QuantizeOptions
		is   error
		want string
	}{
		{"rule", ModelOptions{Dir: dir, Name: "vgg16-random"}, QuantizeOptions{Calibration: "kl"}, nil, `unknown calibration rule "kl"`},
		{"pretrained", ModelOptions{Dir: dir, Name: "vgg16"}, QuantizeOptions{}, ErrPretrainedInt8, "quantize vgg16: the catalog has a pretrained int8 model of it: vgg16-int8"},
		{"catalog name", ModelOptions{Dir: dir, Name: "vgg16-random"}, QuantizeOptions{Name: "vgg19-random"}, model.ErrSpec, "vgg19-random is a catalog model's name"},
	} {
		_, err := QuantizeModel(ctx, &tc.mo, &tc.qo)
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refusals wrote %d files in the model directory", len(ents))
	}
	rt := openRuntime(t)
	base := randomModel(t, rt)
	taken := filepath.Join(testModels.dir, "taken.json")
	if err := os.WriteFile(taken, []byte(`{"name":"taken","path":"`+base.Path+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(taken) })
	_, err := QuantizeModel(ctx, &ModelOptions{Dir: testModels.dir, Name: base.Name}, &QuantizeOptions{Name: "taken"})
	if !errors.Is(err, ErrQuantizedExists) {
		t.Errorf("an installed name without Force: %v, want ErrQuantizedExists", err)
	}
}

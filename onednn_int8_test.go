package simsearch

import (
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// requireOneDNNInt8 skips where this build has no oneDNN engine or the
// CPU has neither AMX-INT8 nor VNNI (oneDNN's int8 is not chosen there).
func requireOneDNNInt8(t *testing.T) {
	t.Helper()
	requireOneDNN(t, false)
	if len(extractor.CPUInt8Features()) == 0 {
		t.Skip("this CPU has neither AMX-INT8 nor VNNI")
	}
}

// TestEngine_Int8Gates is the int8 model's gate (TestQuantize_Gates) on
// oneDNN: the same QDQ model, vgg16-random-int8 with the default
// calibration, run by oneDNN's int8 kernels. Its embeddings of the
// sample photos agree with ONNX Runtime int8's (cosine, median and
// minimum, see int8GateOneDNNMedian: the same integer arithmetic but for
// rounding), and against fp32 it meets the int8 gates with dedup pairs,
// recall@k and mAP equal to fp32's.
func TestEngine_Int8Gates(t *testing.T) {
	requireOneDNNInt8(t)
	rt := openRuntime(t)
	base, q := quantizedRandom(t, rt, DefaultCalibration)
	// int8 by its graph (model.Spec.IsInt8), though its name,
	// vgg16-random-int8-mse, does not end in -int8.
	s := q.Spec
	paths, original := samplePhotos(t)
	fm := engineMaps(t, rt, base, paths, extractor.EngineORT, extractor.PrecisionFP32)
	om := engineMaps(t, rt, s, paths, extractor.EngineORT, extractor.PrecisionInt8)
	dm := engineMaps(t, rt, s, paths, extractor.EngineOneDNN, extractor.PrecisionInt8)
	raw := make([]float32, len(paths))
	for i := range raw {
		raw[i] = cosine(om[i], dm[i])
	}
	rw := summarise(raw)
	t.Logf("feature maps (before pooling and centring): cosine oneDNN int8 to ONNX Runtime int8 median %.6f min %.6f", rw.Median, rw.Min)
	do := summarise(sampleCosines(t, s, s, om, dm))
	df := summarise(sampleCosines(t, base, s, fm, dm))
	of := summarise(sampleCosines(t, base, s, fm, om))
	t.Logf("cosine over %d sample photos: oneDNN int8 to ONNX Runtime int8 median %.5f min %.5f; to fp32: oneDNN int8 median %.4f min %.4f, ONNX Runtime int8 median %.4f min %.4f",
		do.Photos, do.Median, do.Min, df.Median, df.Min, of.Median, of.Min)
	if do.Median < int8GateOneDNNMedian || do.Min < int8GateOneDNNMin {
		t.Errorf("oneDNN int8: cosine to ONNX Runtime int8 median %.5f min %.5f, want ≥ %.3f and ≥ %.3f", do.Median, do.Min, int8GateOneDNNMedian, int8GateOneDNNMin)
	}
	if df.Median < gateMedian || df.Min < gateMin {
		t.Errorf("oneDNN int8: cosine to fp32 median %.4f min %.4f, want ≥ %.2f and ≥ %.2f", df.Median, df.Min, gateMedian, gateMin)
	}
	fr := calibrationReport(t, base, base.Pooling, paths, original, fm)
	dr := calibrationReport(t, s, s.Pooling, paths, original, dm)
	fd, dd := fr.At[len(calibrationThresholds)], dr.At[len(calibrationThresholds)]
	t.Logf("dedup at %.2f: fp32 P %.3f R %.3f F1 %.3f, oneDNN int8 P %.3f R %.3f F1 %.3f; margin fp32 %+.3f int8 %+.3f; mAP fp32 %.4f int8 %.4f",
		s.Threshold, fd.Precision, fd.Recall, fd.F1, dd.Precision, dd.Recall, dd.F1, fr.Margin, dr.Margin, fr.MAP, dr.MAP)
	if dd.Precision != fd.Precision || dd.Recall != fd.Recall || dd.F1 != fd.F1 {
		t.Errorf("dedup pairs at %.2f: oneDNN int8 P %.3f R %.3f F1 %.3f, fp32 %.3f %.3f %.3f", s.Threshold, dd.Precision, dd.Recall, dd.F1, fd.Precision, fd.Recall, fd.F1)
	}
	if lo, hi := dr.LowestTrue[0].Score, dr.HighestOther[0].Score; lo < s.Threshold || hi >= s.Threshold {
		t.Errorf("oneDNN int8 at %.2f: copies ≥ %.3f, different photos ≤ %.3f: the threshold is not in the gap", s.Threshold, lo, hi)
	}
	for i, k := range fr.AtK {
		t.Logf("recall@%d: fp32 %.3f oneDNN int8 %.3f", k.K, k.Recall, dr.AtK[i].Recall)
		if dr.AtK[i] != k {
			t.Errorf("@%d: oneDNN int8 precision %.3f recall %.3f, fp32 %.3f %.3f", k.K, dr.AtK[i].Precision, dr.AtK[i].Recall, k.Precision, k.Recall)
		}
	}
	if dr.MAP != fr.MAP {
		t.Errorf("mAP: oneDNN int8 %.4f, fp32 %.4f", dr.MAP, fr.MAP)
	}
}

// The cosine oneDNN int8 embeddings keep to ONNX Runtime int8's of the
// same model: both run the quantizer's integers, and differ where a float
// sum falls on the other side of a rounding boundary, which the next
// layers carry on. Measured (55 sample photos, oneDNN 2.6.3 on AMX-INT8,
// ONNX Runtime 1.24.3): feature maps median 0.99981, min 0.99959; the
// centred R-MAC vectors, where centring magnifies the difference, median
// 0.9968, min 0.9913. Either engine's cosine to fp32 is 0.986 median,
// 0.978 min; dedup pairs, recall@k and mAP are fp32's on both.
const (
	int8GateOneDNNMedian = 0.995
	int8GateOneDNNMin    = 0.99
)

// TestEngine_NewDatabasePolicy: on a CPU with AMX (injected), a new
// database records the engine auto picks for its model, which stats
// then says: an int8 model on oneDNN int8, a float one on oneDNN bf16,
// where libdnnl loads; without the int8 instructions the int8 model
// stays on ONNX Runtime (the bare label). Without libdnnl both record
// ONNX Runtime.
func TestEngine_NewDatabasePolicy(t *testing.T) {
	amx := func() []string { return []string{"amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni"} }
	none := func() []string { return nil }
	_, _, dnnlErr := extractor.OneDNN()
	for _, tc := range []struct {
		name       string
		bf16, int8 func() []string
		want       string // builtWith with libdnnl
	}{
		{"vgg16-random-int8", amx, amx, "onednn int8"},
		{"vgg16-random", amx, amx, "onednn bf16"},
		{"vgg16-random-int8", amx, none, "onnxruntime int8"},
		{"vgg16-random", none, amx, "onnxruntime fp32"},
	} {
		m, err := newModel(&ModelOptions{Dir: t.TempDir(), Name: tc.name, BF16Features: tc.bf16, Int8Features: tc.int8})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := model.Lookup("vgg16-random")
		s := e.Spec
		s.Name = tc.name
		m.setSpec(s)
		want := tc.want
		if dnnlErr != nil {
			want = "onnxruntime " + strings.Fields(tc.want)[1]
			if want == "onnxruntime bf16" {
				want = "onnxruntime fp32"
			}
		}
		if got := builtWith(m.dbLabel()); got != want {
			t.Errorf("%s (bf16 %v, int8 %v): a new database records %q (%s), want %s", tc.name, tc.bf16(), tc.int8(), m.dbLabel(), got, want)
		}
	}
}

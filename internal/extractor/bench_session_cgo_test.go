//go:build cgo

package extractor

import (
	"context"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/simsearch/simsearch/model"
)

// BenchmarkNewSession times opening the VGG16 trunk on 2 threads with the
// graph optimised now (cold, what every process did before the cache) and
// loaded from the graph cache, alternating within each iteration so that
// load from other processes falls on both alike.
func BenchmarkNewSession(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec := vgg16Random(b)
	spec.SHA256 = "bench" // any hash: the cache needs one to key the file
	cache := b.TempDir()
	warm, err := rt.NewSession(spec, &SessionOptions{Threads: 2, CacheDir: cache})
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	open := func(dir string, wantCached bool) time.Duration {
		start := time.Now()
		s, err := rt.NewSession(spec, &SessionOptions{Threads: 2, CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if _, loaded := s.GraphCache(); loaded != wantCached {
			b.Fatalf("session loaded from the cache: %v, want %v", loaded, wantCached)
		}
		s.Close()
		return d
	}
	var cold, cached time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cold += open("", false)
		cached += open(cache, true)
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold-ms")
	b.ReportMetric(float64(cached.Milliseconds())/float64(b.N), "cached-ms")
	b.ReportMetric(float64(cold)/float64(cached), "cold/cached")
}

// gapVariant is one way of running the trunk at batch 1 on 2 threads.
type gapVariant struct {
	name string
	run  func() error
}

// BenchmarkSessionGap compares the project's Session.Run with a bare
// onnxruntime_go AdvancedSession (input and output tensors made once,
// default options) and with the steps between them added one at a time,
// alternating one image per variant per iteration, in rotating order,
// for the fp32 trunk and its int8 stand-in. Each metric is that
// variant's images/s; "/bare" ones are the ratio to the bare session.
//
// The gap of issue 15 (8.3-9.0 images/s in make bench against 10.4 for a
// bare session) did not reproduce at fp32 on an idle machine (ratio
// 0.997). The likely cause is the measurement: make bench timed the raw
// session right after a pipeline run, whose decoding goroutines and
// spinning ONNX Runtime threads (spinning was on then) were still
// winding down, at batch 8 and 16, against a bare figure at batch 1.
// The steps between a bare session and Session.Run (a new input tensor,
// run options and the context hook, an output ONNX Runtime allocates,
// the copy out) cost microseconds against a run of tens of
// milliseconds. Re-checked at int8 only on a loaded machine (load 11-14
// on 2 cores, -benchtime 5x): fp32 Session.Run/bare 0.97, int8 0.66, but
// int8 variants with more of Session.Run's steps ran faster than those
// with fewer (ort-allocated-output 0.72, +new-input-tensor 0.97), so the
// spread is the load's; it needs an idle rerun.
func BenchmarkSessionGap(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	b.Run("fp32", func(b *testing.B) { sessionGap(b, rt, vgg16Random(b)) })
	b.Run("int8", func(b *testing.B) { sessionGap(b, rt, vgg16Int8(b)) })
}

func sessionGap(b *testing.B, rt *Runtime, spec model.Spec) {
	const threads = 2
	n := int64(spec.Pre.Size)
	inShape := ort.NewShape(1, 3, n, n)
	input := make([]float32, 3*n*n)
	for i := range input {
		input[i] = float32(i%251)/251*4 - 2
	}
	inT, err := ort.NewTensor(inShape, input)
	if err != nil {
		b.Fatal(err)
	}
	defer inT.Destroy()
	outT, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(spec.Channels), int64(spec.GridH), int64(spec.GridW)))
	if err != nil {
		b.Fatal(err)
	}
	defer outT.Destroy()

	options := func(interOp1 bool, cfg map[string]string) *ort.SessionOptions {
		so, err := ort.NewSessionOptions()
		if err != nil {
			b.Fatal(err)
		}
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			b.Fatal(err)
		}
		if interOp1 {
			if err := so.SetInterOpNumThreads(1); err != nil {
				b.Fatal(err)
			}
			if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
				b.Fatal(err)
			}
		}
		for k, v := range cfg {
			if err := so.AddSessionConfigEntry(k, v); err != nil {
				b.Fatal(err)
			}
		}
		return so
	}
	advanced := func(so *ort.SessionOptions) *ort.AdvancedSession {
		defer so.Destroy()
		s, err := ort.NewAdvancedSession(spec.Path, []string{spec.Input}, []string{spec.Output},
			[]ort.Value{inT}, []ort.Value{outT}, so)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	dynamic := func(so *ort.SessionOptions) *ort.DynamicAdvancedSession {
		defer so.Destroy()
		s, err := ort.NewDynamicAdvancedSession(spec.Path, []string{spec.Input}, []string{spec.Output}, so)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	bare := advanced(options(false, nil))
	defer bare.Destroy()
	ours := advanced(options(true, nil))
	defer ours.Destroy()
	noSpin := advanced(options(false, map[string]string{"session.intra_op.allow_spinning": "0"}))
	defer noSpin.Destroy()
	noPatternSO := options(false, nil)
	if err := noPatternSO.SetMemPattern(false); err != nil {
		b.Fatal(err)
	}
	noPattern := advanced(noPatternSO)
	defer noPattern.Destroy()
	daz := advanced(options(false, map[string]string{"session.set_denormal_as_zero": "1"}))
	defer daz.Destroy()
	dyn := dynamic(options(false, nil))
	defer dyn.Destroy()
	sess, err := rt.NewSession(spec, &SessionOptions{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()

	// dynRun runs the dynamic session as Session.RunScores does, with the
	// steps it takes switched on one at a time.
	dynRun := func(newInput, runOptions, copyOut bool) func() error {
		return func() error {
			in := inT
			if newInput {
				t, err := ort.NewTensor(inShape, input)
				if err != nil {
					return err
				}
				defer t.Destroy()
				in = t
			}
			out := []ort.Value{nil}
			if runOptions {
				ro, err := ort.NewRunOptions()
				if err != nil {
					return err
				}
				defer ro.Destroy()
				if err := dyn.RunWithOptions([]ort.Value{in}, out, ro); err != nil {
					return err
				}
			} else if err := dyn.Run([]ort.Value{in}, out); err != nil {
				return err
			}
			defer out[0].Destroy()
			if copyOut {
				_ = append([]float32(nil), out[0].(*ort.Tensor[float32]).GetData()...)
			}
			return nil
		}
	}
	variants := []gapVariant{
		{"bare", bare.Run},
		{"inter-op-1+level-all", ours.Run},
		{"no-spinning", noSpin.Run},
		{"no-memory-pattern", noPattern.Run},
		{"denormals-as-zero", daz.Run},
		{"ort-allocated-output", dynRun(false, false, false)},
		{"+new-input-tensor", dynRun(true, false, false)},
		{"+run-options", dynRun(true, true, false)},
		{"+output-copy", dynRun(true, true, true)},
		{"Session.Run", func() error {
			_, err := sess.RunContext(context.Background(), input, 1)
			return err
		}},
	}
	for _, v := range variants { // warm up
		if err := v.run(); err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	took := make([]time.Duration, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each round starts one variant later, so that none always
		// follows the same one (a session's threads spin for a while
		// after its run and slow whatever runs next).
		for k := range variants {
			j := (i + k) % len(variants)
			v := variants[j]
			start := time.Now()
			if err := v.run(); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			took[j] += time.Since(start)
		}
	}
	for j, v := range variants {
		b.ReportMetric(float64(b.N)/took[j].Seconds(), v.name+"-img/s")
		if j > 0 {
			b.ReportMetric(float64(took[0])/float64(took[j]), v.name+"/bare")
		}
	}
}

// BenchmarkSessionOverhead is what Session.Run adds to a bare
// AdvancedSession.Run per call (input tensor, run options, the context
// hook, ONNX Runtime's output allocation, the copy out), on a network so
// small that the convolutions take microseconds. Compare its ns/op
// between the two sub-benchmarks.
func BenchmarkSessionOverhead(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	spec, _ := tinyVGG(b)
	n := int64(spec.Pre.Size)
	input := make([]float32, 3*n*n)
	for i := range input {
		input[i] = float32(i%251) / 251
	}
	b.Run("bare", func(b *testing.B) {
		in, err := ort.NewTensor(ort.NewShape(1, 3, n, n), input)
		if err != nil {
			b.Fatal(err)
		}
		defer in.Destroy()
		out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(spec.Channels), int64(spec.GridH), int64(spec.GridW)))
		if err != nil {
			b.Fatal(err)
		}
		defer out.Destroy()
		so, err := ort.NewSessionOptions()
		if err != nil {
			b.Fatal(err)
		}
		defer so.Destroy()
		if err := so.SetIntraOpNumThreads(1); err != nil {
			b.Fatal(err)
		}
		s, err := ort.NewAdvancedSession(spec.Path, []string{spec.Input}, []string{spec.Output}, []ort.Value{in}, []ort.Value{out}, so)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Session.Run", func(b *testing.B) {
		s, err := rt.NewSession(spec, &SessionOptions{Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Run(input, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

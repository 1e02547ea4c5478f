//go:build cgo && !nodnnl

package onednn_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// TestMeasure_Speed times vgg16-random's raw trunk (input in memory) on
// ONNX Runtime fp32 and int8 and oneDNN fp32, bf16 and int8 (the int8
// model quantized here, calibrated on random images: the speed does not
// depend on the ranges) at 1 and 2 threads, in interleaved rounds so
// that every engine sees the same load, and logs best and median
// images/s with oneDNN's kernels. Set SIMSEARCH_MEASURE=1
// (SIMSEARCH_MEASURE_ROUNDS rounds, default 3, of 4 batches of 2, the
// extractor's batch).
func TestMeasure_Speed(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to time the engines")
	}
	requireLibrary(t)
	rt := openRuntime(t)
	spec := vgg16Random(t)
	q := quantized(t, rt, spec, 4)
	rounds, _ := strconv.Atoi(os.Getenv("SIMSEARCH_MEASURE_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	const batch, batches = 2, 4
	in := input(spec, batch, 5)
	ctx := context.Background()
	type runner struct {
		name string
		run  func() error
		rate []float64
	}
	var runs []*runner
	for _, th := range []int{1, 2} {
		for _, sp := range []struct {
			spec model.Spec
			name string
		}{{spec, "fp32"}, {q, "int8"}} {
			s, err := rt.NewSession(sp.spec, &extractor.SessionOptions{Threads: th})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			runs = append(runs, &runner{name: fmt.Sprintf("onnxruntime %s, %d threads", sp.name, th), run: func() error {
				_, err := s.Run(in, batch)
				return err
			}})
		}
		for _, p := range []onednn.Precision{onednn.FP32, onednn.BF16, onednn.INT8} {
			ps := spec
			if p == onednn.INT8 {
				ps = q
			}
			x, err := onednn.New(ps, &onednn.Options{Threads: th, Precision: p})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			if _, err := x.Run(ctx, in, batch); err != nil { // builds batch 2
				t.Fatal(err)
			}
			if th == 2 {
				t.Logf("oneDNN %s %s kernels: %s", onednn.Version(), p, onednn.Summary(x.Kernels()))
			}
			runs = append(runs, &runner{name: fmt.Sprintf("onednn %s, %d threads", p, th), run: func() error {
				_, err := x.Run(ctx, in, batch)
				return err
			}})
		}
	}
	for range rounds {
		for _, r := range runs {
			t0 := time.Now()
			for range batches {
				if err := r.run(); err != nil {
					t.Fatal(err)
				}
			}
			r.rate = append(r.rate, float64(batch*batches)/time.Since(t0).Seconds())
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("vgg16-random trunk, batch %d, %d rounds of %d images, load %s", batch, rounds, batch*batches, strings.TrimSpace(string(load)))
	for _, r := range runs {
		s := slices.Clone(r.rate)
		slices.Sort(s)
		t.Logf("%-28s best %6.2f  median %6.2f images/s", r.name, s[len(s)-1], s[len(s)/2])
	}
}

// TestMeasure_FirstConvPadding times VGG16's first convolution (64
// filters of 3×3 on 224×224, ReLU fused, batch 2) with its input
// channels padded from 3 to 4, 8 and 16 (zero weights would make the
// padded channels count for nothing), in fp32 (what int8 runs it in) and
// bf16, and logs the kernel oneDNN chose and the median and best time
// of a run. It answers whether padding moves the layer onto an AMX
// kernel and what that gains. Set SIMSEARCH_MEASURE=1 (and DNNL_VERBOSE=1
// for the convolution's own time, which the whole run's pool and output
// copy hide). Measured on 2026-12-01 at load 7.6 (convolution alone,
// median): bf16 3 channels jit:avx512_core_amx_bf16 3.7 ms, 8 or 16
// channels brgconv:avx512_core_amx_bf16 6.4 ms; fp32 brgconv:avx512_core
// 2.6 ms at 3 channels, 4.3 at 4, 18 at 16. Padding moves bf16 onto the
// brgconv AMX kernel and gains nothing; fp32 has no AMX kernel: the
// executor does not pad.
func TestMeasure_FirstConvPadding(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to time the first convolution")
	}
	requireLibrary(t)
	type run struct {
		name   string
		x      *onednn.Executor
		in     []float32
		took   []time.Duration
		kernel string
	}
	var runs []*run
	for _, ic := range []int{3, 4, 8, 16} {
		v, err := onnx.NewVGG(onnx.VGGConfig{Name: "first", Size: 224, InChannels: ic, Blocks: [][]int{{64}}, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		spec := writeSpec(t, fmt.Sprintf("first%d", ic), v.Model, v.Feature.Name, 224, v.Feature.C, v.Feature.H, v.Feature.W)
		for _, p := range []onednn.Precision{onednn.FP32, onednn.BF16} {
			x := newExecutor(t, spec, p)
			r := &run{name: fmt.Sprintf("%s, %2d input channels", p, ic), x: x, in: make([]float32, 2*ic*224*224)}
			for _, k := range x.Kernels() {
				if k.Layer == "block1_conv1" {
					r.kernel = k.Impl
				}
			}
			runs = append(runs, r)
		}
	}
	ctx := context.Background()
	for range 12 {
		for _, r := range runs {
			t0 := time.Now()
			if _, err := r.x.Run(ctx, r.in, 2); err != nil {
				t.Fatal(err)
			}
			r.took = append(r.took, time.Since(t0))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("first convolution with its pool, batch 2, 12 interleaved runs (2 threads), load %s", strings.TrimSpace(string(load)))
	for _, r := range runs {
		s := slices.Clone(r.took[2:])
		slices.Sort(s)
		t.Logf("%-24s %-30s median %5.2f ms, best %5.2f ms", r.name, r.kernel, s[len(s)/2].Seconds()*1000, s[0].Seconds()*1000)
	}
}

// TestMeasure_Int8Steps times each primitive of vgg16-random's int8
// trunk (quantized here, as TestMeasure_Speed does) at batch 2 on 1 and
// 2 threads, in interleaved rounds, and logs per primitive its kernel
// and median time, with the whole run's median: where the int8 time
// goes. Set SIMSEARCH_MEASURE=1 (SIMSEARCH_MEASURE_ROUNDS rounds,
// default 5; SIMSEARCH_MEASURE_BATCH=1,2,4 other batch sizes, which
// then take turns too).
//
// Measured on 2026-12-02 (load 0.7, batch 2): 32.9 ms a run at 1 thread
// (61 images/s), 21.5 at 2 (93); the fp32 first convolution 4.0 / 2.4 ms
// and the jit:uni reorder quantizing its output 3.7 / 2.4 ms, 23% of
// the run, both bound by memory traffic (the f32 output is 25.7 MB); the
// 12 AMX convolutions 0.9–3.5 ms each. Batch 1, 2 and 4 in turns (load
// 3.0, 9 rounds): 23.9, 23.9 and 24.5 images/s at 1 thread, 35.0, 39.0
// and 34.5 at 2: the batch size changes nothing, and 2 stays.
func TestMeasure_Int8Steps(t *testing.T) {
	if os.Getenv("SIMSEARCH_MEASURE") == "" {
		t.Skip("set SIMSEARCH_MEASURE=1 to time the int8 trunk's primitives")
	}
	requireLibrary(t)
	requireInt8(t)
	rt := openRuntime(t)
	spec := vgg16Random(t)
	q := quantized(t, rt, spec, 4)
	rounds, _ := strconv.Atoi(os.Getenv("SIMSEARCH_MEASURE_ROUNDS"))
	if rounds <= 0 {
		rounds = 5
	}
	batches := []int{2}
	if v := os.Getenv("SIMSEARCH_MEASURE_BATCH"); v != "" {
		batches = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				t.Fatalf("SIMSEARCH_MEASURE_BATCH %q: want batch sizes, comma-separated", v)
			}
			batches = append(batches, n)
		}
	}
	type run struct {
		threads, batch int
		in             []float32
		x              *onednn.Executor
		steps          [][]onednn.StepTime // by round
	}
	var runs []*run
	for _, th := range []int{1, 2} {
		x, err := onednn.New(q, &onednn.Options{Threads: th, Precision: onednn.INT8})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		for _, batch := range batches {
			in := input(spec, batch, 5)
			if _, err := onednn.Profile(x, in, batch); err != nil { // builds the batch size
				t.Fatal(err)
			}
			runs = append(runs, &run{threads: th, batch: batch, in: in, x: x})
		}
	}
	for range rounds {
		for _, r := range runs {
			p, err := onednn.Profile(r.x, r.in, r.batch)
			if err != nil {
				t.Fatal(err)
			}
			r.steps = append(r.steps, p)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("vgg16-random int8 trunk, batch %v, %d interleaved rounds, load %s", batches, rounds, strings.TrimSpace(string(load)))
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, r := range runs {
		var totals []time.Duration
		for _, p := range r.steps {
			var sum time.Duration
			for _, s := range p {
				sum += s.Took
			}
			totals = append(totals, sum)
		}
		total := median(totals)
		t.Logf("%d threads, batch %d: median run %.1f ms (%.1f images/s)", r.threads, r.batch, ms(total), float64(r.batch)/total.Seconds())
		for i, s := range r.steps[0] {
			var d []time.Duration
			for _, p := range r.steps {
				d = append(d, p[i].Took)
			}
			m := median(d)
			t.Logf("  %-32s %-34s %6.2f ms %5.1f%%", s.Name, s.Impl, ms(m), 100*m.Seconds()/total.Seconds())
		}
	}
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

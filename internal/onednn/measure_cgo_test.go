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

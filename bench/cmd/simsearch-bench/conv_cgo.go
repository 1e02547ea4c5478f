//go:build cgo

package main

import (
	"fmt"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/simsearch/simsearch/internal/extractor"
)

// convCeiling times c in ONNX Runtime with the options the extractor's
// sessions use (all graph optimisations, threads intra-op threads). rt
// must stay open: it owns the environment.
func convCeiling(rt *extractor.Runtime, c convShape, threads int, quick bool) (convFigure, error) {
	f := convFigure{Threads: threads, Depth: max(c.Depth, 1), Shape: fmt.Sprintf("%dx%dx%dx%d conv3x3 to %d", c.Batch, c.Channels, c.Side, c.Side, c.Channels)}
	_ = rt
	data, err := convModel(c)
	if err != nil {
		return f, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return f, err
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return f, err
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return f, err
	}
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return f, err
	}
	shape := ort.NewShape(int64(c.Batch), int64(c.Channels), int64(c.Side), int64(c.Side))
	in := make([]float32, shape.FlattenedSize())
	for i := range in {
		in[i] = float32(i%97)/48 - 1
	}
	x, err := ort.NewTensor(shape, in)
	if err != nil {
		return f, err
	}
	defer x.Destroy()
	y, err := ort.NewEmptyTensor[float32](shape)
	if err != nil {
		return f, err
	}
	defer y.Destroy()
	sess, err := ort.NewAdvancedSessionWithONNXData(data, []string{"x"}, []string{"y"}, []ort.Value{x}, []ort.Value{y}, so)
	if err != nil {
		return f, err
	}
	defer sess.Destroy()
	for range 2 { // warm up: kernel selection, weight packing
		if err := sess.Run(); err != nil {
			return f, err
		}
	}
	// Enough runs for about two seconds, at least three.
	runs := 3
	if quick {
		runs = 2
	} else {
		t := time.Now()
		if err := sess.Run(); err != nil {
			return f, err
		}
		runs = max(3, int(2/time.Since(t).Seconds()))
	}
	start := time.Now()
	for range runs {
		if err := sess.Run(); err != nil {
			return f, err
		}
	}
	f.Runs = runs
	f.Seconds = time.Since(start).Seconds()
	f.GFLOPS = c.GFLOP() * float64(runs) / f.Seconds
	return f, nil
}

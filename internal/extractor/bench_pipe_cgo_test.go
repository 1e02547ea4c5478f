//go:build cgo

package extractor

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
	"github.com/simsearch/simsearch/model"
)

// benchInt8 builds the int8 stand-in once per benchmark binary.
var benchInt8 = struct {
	once sync.Once
	spec model.Spec
	err  error
}{}

// vgg16Int8 is the VGG16 trunk quantized in the QOperator form with
// constant scales (onnxtest.QuantizedVGG): uncalibrated, so its vectors
// mean little, but it runs at int8 speed, which is all the pipeline
// benchmarks need of it. Swap in `simsearch model quantize`'s output by
// pointing Path at it.
func vgg16Int8(b *testing.B) model.Spec {
	b.Helper()
	fp := vgg16Random(b)
	benchInt8.once.Do(func() {
		q, err := onnxtest.QuantizedVGG(onnx.VGG16Config(false), onnxtest.DequantizedPool)
		if err != nil {
			benchInt8.err = err
			return
		}
		path := filepath.Join(benchModel.dir, "vgg16-int8-standin.onnx")
		if err := onnx.WriteModel(path, q.Model); err != nil {
			benchInt8.err = err
			return
		}
		s := fp
		s.Name, s.Path, s.Output, s.SHA256 = "vgg16-int8-standin", path, "features", ""
		benchInt8.spec = s
	})
	if benchInt8.err != nil {
		b.Fatal(benchInt8.err)
	}
	return benchInt8.spec
}

// benchJPEGs writes n camera-like w×h JPEGs (quality 90) into a directory
// kept for the whole benchmark binary, once per size.
var benchJPEGDirs sync.Map

func benchJPEGs(b *testing.B, w, h, n int) []string {
	b.Helper()
	vgg16Random(b) // makes the directory that the models and photos share
	key := fmt.Sprintf("%dx%d", w, h)
	if v, ok := benchJPEGDirs.Load(key); ok {
		return v.([]string)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photoLike(w, h), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(benchModel.dir, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%d.jpg", i))
		if err := os.WriteFile(paths[i], buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchJPEGDirs.Store(key, paths)
	return paths
}

// pipeCase is one configuration of the pipeline.
type pipeCase struct {
	Workers, Threads, Batch int
	Spin                    bool
}

func (c pipeCase) String() string {
	return fmt.Sprintf("threads=%d/workers=%d/batch=%d/spin=%v", c.Threads, c.Workers, c.Batch, c.Spin)
}

// rawRate is the session alone on input already preprocessed: images/s
// over runs batches.
func rawRate(b *testing.B, rt *Runtime, spec model.Spec, c pipeCase, runs int) float64 {
	b.Helper()
	s, err := rt.NewSession(spec, &SessionOptions{Threads: c.Threads, Spin: c.Spin})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	in := make([]float32, c.Batch*3*224*224)
	for i := range in {
		in[i] = float32(i%251)/125 - 1
	}
	if _, err := s.Run(in, c.Batch); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for range runs {
		if _, err := s.Run(in, c.Batch); err != nil {
			b.Fatal(err)
		}
	}
	return float64(runs*c.Batch) / time.Since(start).Seconds()
}

// pipeRate is Files over paths: images/s from the first result to the
// last (the pipeline's fill left out, as a long index run sees it).
func pipeRate(b *testing.B, rt *Runtime, spec model.Spec, c pipeCase, paths []string) float64 {
	b.Helper()
	ex, err := New(rt, spec, &Options{Raw: true, Threads: c.Threads, Workers: c.Workers, Batch: c.Batch, Spin: c.Spin})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	ctx := context.Background()
	if err := ex.Files(ctx, paths[:min(len(paths), c.Batch)], func(r Result) error { return r.Err }); err != nil {
		b.Fatal(err)
	}
	var first time.Time
	n := 0
	err = ex.Files(ctx, paths, func(r Result) error {
		if r.Err != nil {
			return r.Err
		}
		if n++; n == c.Batch {
			first = time.Now()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(n-c.Batch) / time.Since(first).Seconds()
}

// BenchmarkPipeline is the table: raw session against the whole
// pipeline (read, decode at reduced DCT scale, resize, normalise, network,
// pool) on 2 MP and 12 MP JPEGs, fp32 and int8, 1 and 2 threads, at the
// Extractor's defaults. Each sub-benchmark times the raw session right
// before the pipeline with the same settings; ratio is pipeline ÷ raw.
// Run with -benchtime 1x: every iteration is a whole measurement.
//
//	go test -run '^$' -bench 'Pipeline$' -benchtime 1x ./internal/extractor
func BenchmarkPipeline(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	files := map[string][]string{
		"2MP":  benchJPEGs(b, 1920, 1080, 24),
		"12MP": benchJPEGs(b, 4000, 3000, 16),
	}
	for _, m := range []string{"int8", "fp32"} {
		spec := vgg16Random(b)
		if m == "int8" {
			spec = vgg16Int8(b)
		}
		for _, size := range []string{"2MP", "12MP"} {
			for _, threads := range []int{1, 2} {
				c := pipeCase{Threads: threads, Workers: DefaultWorkers(), Batch: DefaultBatch}
				b.Run(fmt.Sprintf("%s/%s/threads=%d", m, size, threads), func(b *testing.B) {
					benchPipeCase(b, rt, spec, c, files[size])
				})
			}
		}
	}
}

// BenchmarkPipelineTuning varies what the defaults were chosen from, on
// 2 MP JPEGs at int8 (where the network leaves the decoders least time)
// and fp32, 2 threads unless said: decoding goroutines, batch size and
// spinning. All configurations of a model are open at once and take
// turns, 8 images each, in rotating order, so that other load on the
// machine falls on all of them alike; each metric is one's images/s.
//
//	go test -run '^$' -bench PipelineTuning -benchtime 3x ./internal/extractor
func BenchmarkPipelineTuning(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	paths := benchJPEGs(b, 1920, 1080, 8)
	cases := []pipeCase{
		{Threads: 2, Workers: 2, Batch: 2},
		{Threads: 2, Workers: 1, Batch: 2},
		{Threads: 2, Workers: 4, Batch: 2},
		{Threads: 2, Workers: 2, Batch: 1},
		{Threads: 2, Workers: 2, Batch: 4},
		{Threads: 2, Workers: 2, Batch: 8},
		{Threads: 2, Workers: 2, Batch: 2, Spin: true},
		{Threads: 1, Workers: 2, Batch: 2},
	}
	for _, m := range []string{"int8", "fp32"} {
		spec := vgg16Random(b)
		if m == "int8" {
			spec = vgg16Int8(b)
		}
		b.Run(m, func(b *testing.B) {
			ex := make([]*Extractor, len(cases))
			for i, c := range cases {
				e, err := New(rt, spec, &Options{Raw: true, Threads: c.Threads, Workers: c.Workers, Batch: c.Batch, Spin: c.Spin})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				ex[i] = e
			}
			run := func(e *Extractor) time.Duration {
				start := time.Now()
				if err := e.Files(context.Background(), paths, func(r Result) error { return r.Err }); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for _, e := range ex { // warm up
				run(e)
			}
			took := make([]time.Duration, len(cases))
			for i := range b.N {
				for k := range cases {
					j := (i + k) % len(cases)
					took[j] += run(ex[j])
				}
			}
			for j, c := range cases {
				b.ReportMetric(float64(b.N*len(paths))/took[j].Seconds(), strings.ReplaceAll(c.String(), "/", ",")+"-img/s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func benchPipeCase(b *testing.B, rt *Runtime, spec model.Spec, c pipeCase, paths []string) {
	var raw, pipe float64
	for range b.N {
		raw += rawRate(b, rt, spec, c, max(2, 8/c.Batch))
		pipe += pipeRate(b, rt, spec, c, paths)
	}
	raw, pipe = raw/float64(b.N), pipe/float64(b.N)
	b.ReportMetric(raw, "raw-img/s")
	b.ReportMetric(pipe, "pipe-img/s")
	b.ReportMetric(pipe/raw, "pipe/raw")
	b.ReportMetric(0, "ns/op")
}

//go:build cgo

package extractor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// benchQDQ is vgg16-random's int8 model in the form `simsearch model
// quantize` writes (internal/quantize's QDQ graph, which both ONNX
// Runtime and oneDNN run), calibrated on a few synthetic images: the
// ranges change the vectors, not the speed.
var benchQDQ = struct {
	once sync.Once
	spec model.Spec
	err  error
}{}

func vgg16QDQ(b *testing.B, rt *Runtime) model.Spec {
	b.Helper()
	fp := vgg16Random(b)
	benchQDQ.once.Do(func() {
		benchQDQ.spec, benchQDQ.err = quantizeForBench(rt, fp)
	})
	if benchQDQ.err != nil {
		b.Fatal(benchQDQ.err)
	}
	return benchQDQ.spec
}

func quantizeForBench(rt *Runtime, fp model.Spec) (model.Spec, error) {
	plan, err := quantize.AnalyseFile(fp.Path, fp.Output, nil)
	if err != nil {
		return model.Spec{}, err
	}
	probe, err := plan.ProbeBytes()
	if err != nil {
		return model.Spec{}, err
	}
	p, err := rt.NewProbe(probe, fp.Input, plan.Tensors, 0)
	if err != nil {
		return model.Spec{}, err
	}
	defer p.Close()
	hists := make([]*quantize.Histogram, len(plan.Tensors))
	for i := range hists {
		hists[i] = &quantize.Histogram{}
	}
	in := make([]float32, 3*224*224)
	for k := range 3 {
		if err := Tensor(in, toRGB(photoLike(320+40*k, 240+30*k), 1), fp.Pre); err != nil {
			return model.Spec{}, err
		}
		outs, err := p.Run(in, []int64{1, 3, 224, 224})
		if err != nil {
			return model.Spec{}, err
		}
		for i, o := range outs {
			hists[i].Add(o)
		}
	}
	q, err := plan.Quantize(quantize.Ranges(hists, quantize.MSE))
	if err != nil {
		return model.Spec{}, err
	}
	s := fp
	s.Name, s.SHA256, s.Quantized = model.QuantizedName(fp.Name), "", model.QuantizedInt8
	s.Path = filepath.Join(filepath.Dir(fp.Path), s.Name+".onnx")
	return s, onnx.WriteModel(s.Path, q)
}

// BenchmarkEnginePipeline is issue 16's index table: the whole pipeline
// (Files: read, decode at reduced DCT scale, resize, normalise, network)
// on 60 2 MP JPEGs per engine and precision (ONNX Runtime fp32 and int8,
// oneDNN bf16 and int8, the int8 ones on the same QDQ model), with the
// network threads and decoding goroutines split four ways on this
// machine's cores. Every configuration is open at once and they take
// turns, 20 images each in rotating order, so that other load on the
// machine falls on all alike. Before them it times the parts alone:
// decoding (1 and 2 goroutines) and each engine's network at batch 2,
// which say where the time goes (core-ms per image). Results are logged
// as a table (-v) and reported as metrics.
//
//	go test -run '^$' -bench EnginePipeline -benchtime 3x -v ./internal/extractor
func BenchmarkEnginePipeline(b *testing.B) {
	rt, err := OpenRuntime(nil)
	if err != nil {
		b.Skip(err)
	}
	defer rt.Close()
	paths := benchJPEGs(b, 1920, 1080, 60)
	fp, q := vgg16Random(b), vgg16QDQ(b, rt)
	type engine struct {
		name string
		spec model.Spec
		eng  Engine
		prec Precision
	}
	engines := []engine{
		{"onnxruntime fp32", fp, EngineORT, PrecisionFP32},
		{"onnxruntime int8", q, EngineORT, PrecisionInt8},
		{"onednn bf16", fp, EngineOneDNN, PrecisionBF16},
		{"onednn int8", q, EngineOneDNN, PrecisionInt8},
	}
	splits := []pipeCase{{Threads: 2, Workers: 2}, {Threads: 2, Workers: 1}, {Threads: 1, Workers: 2}, {Threads: 1, Workers: 1}}
	ctx := context.Background()
	load := func() string {
		l, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(l))[:3], " ")
	}

	// The parts alone.
	dec := map[int]float64{}
	var probe *Extractor
	for _, w := range []int{1, 2} {
		if probe == nil {
			if probe, err = New(rt, fp, &Options{Raw: true, Threads: 1}); err != nil {
				b.Fatal(err)
			}
			defer probe.Close()
		}
		dec[w] = decodeRate(b, probe, paths[:20], w)
	}
	type part struct {
		name string
		rate [2]float64 // network images/s at 1 and 2 threads
	}
	var nets []part
	for _, e := range engines {
		p := part{name: e.name}
		for ti, th := range []int{1, 2} {
			ex, err := New(rt, e.spec, &Options{Raw: true, Threads: th, Engine: e.eng, Precision: e.prec})
			if err != nil {
				if e.eng == EngineOneDNN {
					b.Logf("%s: %v", e.name, err)
					break
				}
				b.Fatal(err)
			}
			p.rate[ti] = netRate(b, ex, 8)
			if th == 2 && ex.Engine().Kernels != "" {
				b.Logf("%s kernels: %s", e.name, ex.Engine().Kernels)
			}
			ex.Close()
		}
		nets = append(nets, p)
	}
	b.Logf("parts alone (load %s): decode+preprocess of a 2 MP JPEG %.1f images/s on 1 goroutine (%.1f core-ms each), %.1f on 2",
		load(), dec[1], 1000/dec[1], dec[2])
	for _, p := range nets {
		if p.rate[0] > 0 {
			b.Logf("  network %-18s %6.1f images/s at 1 thread (%.1f core-ms each), %6.1f at 2", p.name, p.rate[0], 1000/p.rate[0], p.rate[1])
		}
	}

	// The pipeline, every configuration open at once.
	type conf struct {
		engine
		pipeCase
		ex    *Extractor
		rates []float64
	}
	var confs []*conf
	for _, e := range engines {
		for _, s := range splits {
			ex, err := New(rt, e.spec, &Options{Raw: true, Threads: s.Threads, Workers: s.Workers, Batch: DefaultBatch, Engine: e.eng, Precision: e.prec})
			if err != nil {
				if e.eng == EngineOneDNN {
					break // logged above
				}
				b.Fatal(err)
			}
			defer ex.Close()
			if err := ex.Files(ctx, paths[:2], func(r Result) error { return r.Err }); err != nil {
				b.Fatal(err)
			}
			confs = append(confs, &conf{engine: e, pipeCase: s, ex: ex})
		}
	}
	const per = 20
	for i := range b.N * 3 {
		for k := range confs {
			c := confs[(i+k)%len(confs)]
			from := (i * per) % len(paths)
			start := time.Now()
			if err := c.ex.Files(ctx, paths[from:from+per], func(r Result) error { return r.Err }); err != nil {
				b.Fatal(err)
			}
			c.rates = append(c.rates, per/time.Since(start).Seconds())
		}
	}
	b.Logf("index pipeline, 2 MP JPEGs, batch %d, %d rounds of %d images (load after %s):", DefaultBatch, b.N*3, per, load())
	for _, c := range confs {
		r := slices.Clone(c.rates)
		slices.Sort(r)
		b.Logf("  %-18s threads %d, workers %d: best %6.1f, median %6.1f images/s", c.name, c.Threads, c.Workers, r[len(r)-1], r[len(r)/2])
		b.ReportMetric(r[len(r)/2], fmt.Sprintf("%s,threads=%d,workers=%d-img/s", strings.ReplaceAll(c.name, " ", "-"), c.Threads, c.Workers))
	}
	b.ReportMetric(0, "ns/op")
}

// decodeRate is images/s of decoding and preprocessing paths on workers
// goroutines, as Sources' workers do, without the network.
func decodeRate(b *testing.B, e *Extractor, paths []string, workers int) float64 {
	b.Helper()
	ctx := context.Background()
	mem := newBudget(e.budget)
	jobs := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := make([]float32, 3*224*224)
			for p := range jobs {
				img, _, held, err := e.decodeSource(ctx, mem, FileSource(p))
				if err == nil {
					err = Tensor(t, img, e.spec.Pre)
				}
				mem.release(held)
				if err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, p := range paths {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	return float64(len(paths)) / time.Since(start).Seconds()
}

// netRate is images/s of e's network alone on batches of 2, over runs
// batches after one to warm up.
func netRate(b *testing.B, e *Extractor, runs int) float64 {
	b.Helper()
	in := make([]float32, 2*3*224*224)
	for i := range in {
		in[i] = float32(i%251)/125 - 1
	}
	ctx := context.Background()
	if _, _, err := e.net.RunScores(ctx, in, 2); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for range runs {
		if _, _, err := e.net.RunScores(ctx, in, 2); err != nil {
			b.Fatal(err)
		}
	}
	return float64(2*runs) / time.Since(start).Seconds()
}

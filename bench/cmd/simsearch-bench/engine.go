package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/quantize"
	"github.com/simsearch/simsearch/model"
)

// engineFigure is one engine × precision × threads setting of the raw
// trunk over the rounds.
type engineFigure struct {
	Engine    string    `json:"engine"`
	Precision string    `json:"precision"`
	Threads   int       `json:"threads"`
	Batch     int       `json:"batch"`
	Rounds    []float64 `json:"images_per_s"` // one per round
	Best      float64   `json:"best"`
	Median    float64   `json:"median"`
	Kernels   string    `json:"kernels,omitempty"`
}

type engineRaw struct {
	OneDNN   string         `json:"onednn"` // version and ISA, or why not
	Int8     string         `json:"int8_model"`
	Figures  []engineFigure `json:"figures"`
	Pipeline *pipeRaw       `json:"pipeline,omitempty"`
}

// vggGFLOP is the VGG16 trunk's work per 224×224 image (13 convolutions,
// 15.35 GMAC), for the effective rate a figure stands for.
const vggGFLOP = 30.7

// engineRounds is how many times each setting runs, interleaved: AMX's
// throughput on a shared host swings 2-3× from minute to minute (issue
// 16), so best and median over rounds that all settings share say more
// than one long run each.
const engineRounds = 5

// engineRow times vgg16-random's raw trunk (preprocessed input in
// memory) on ONNX Runtime fp32 and int8 and oneDNN fp32, bf16 and int8
// at each thread count, batch 2 (the extractor's default), in
// interleaved rounds, then the index pipeline per engine (enginePipe).
func engineRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "Engines: the raw VGG16 trunk on ONNX Runtime and oneDNN (vgg16-random)"}
	raw := &engineRaw{}
	s.Raw = raw
	rt, err := b.runtime()
	if err != nil {
		return s, err
	}
	spec, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	ver, isa, dnnlErr := extractor.OneDNN()
	raw.OneDNN = fmt.Sprintf("oneDNN %s (%s)", ver, isa)
	if dnnlErr != nil {
		raw.OneDNN = "unavailable: " + dnnlErr.Error()
		s.Notes = append(s.Notes, "oneDNN rows skipped: "+dnnlErr.Error())
	}
	q, note, err := benchInt8(rt, spec, dir)
	if err != nil {
		return s, err
	}
	raw.Int8 = note
	const batch = 2
	images := max(batch, b.sz.rawImages/2)
	rounds := engineRounds
	if b.cfg.quick {
		rounds = 1
	}
	n := spec.Pre.Size
	in := make([]float32, batch*3*n*n)
	for i := range in {
		in[i] = float32(i%251)/125 - 1
	}
	type setting struct {
		fig *engineFigure
		run func() error
	}
	var set []setting
	var closers []func() // the sessions and executors
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, th := range b.sz.threads {
		for _, ms := range []model.Spec{spec, q} {
			sess, err := rt.NewSession(ms, &extractor.SessionOptions{Threads: th})
			if err != nil {
				return s, err
			}
			closers = append(closers, func() { sess.Close() })
			prec := "fp32"
			if ms.IsInt8() {
				prec = "int8"
			}
			set = append(set, setting{&engineFigure{Engine: "onnxruntime", Precision: prec, Threads: th, Batch: batch}, func() error {
				_, err := sess.Run(in, batch)
				return err
			}})
		}
		if dnnlErr != nil {
			continue
		}
		for _, p := range []onednn.Precision{onednn.FP32, onednn.BF16, onednn.INT8} {
			ms := spec
			if p == onednn.INT8 {
				ms = q
			}
			x, err := onednn.New(ms, &onednn.Options{Threads: th, Precision: p})
			if err != nil {
				s.Notes = append(s.Notes, fmt.Sprintf("onednn %s, %d threads: %v", p, th, err))
				continue
			}
			closers = append(closers, func() { x.Close() })
			set = append(set, setting{&engineFigure{Engine: "onednn", Precision: string(p), Threads: th, Batch: batch, Kernels: onednn.Summary(x.Kernels())}, func() error {
				_, err := x.Run(ctx, in, batch)
				return err
			}})
		}
	}
	for _, st := range set { // warm up each shape
		if err := st.run(); err != nil {
			return s, err
		}
	}
	for r := range rounds {
		for _, st := range set {
			if err := ctx.Err(); err != nil {
				return s, err
			}
			t0 := time.Now()
			for range images / batch {
				if err := st.run(); err != nil {
					return s, err
				}
			}
			st.fig.Rounds = append(st.fig.Rounds, float64(images/batch*batch)/time.Since(t0).Seconds())
			b.logf("engine round %d: %s %s %d threads: %.2f images/s", r+1, st.fig.Engine, st.fig.Precision, st.fig.Threads, st.fig.Rounds[r])
		}
	}
	t := Table{
		Caption: fmt.Sprintf("%s; %d interleaved rounds of %d images each, batch %d. int8: %s. Effective rate: median images/s × %.1f GFLOP (the trunk's convolutions); "+
			"no fraction of a peak: this host's AMX throughput swings 2–3× from minute to minute (a register-only AMX loop gave 1.0–2.6 TMAC/s per vCPU, issue 16), so no fixed peak can be stated honestly",
			raw.OneDNN, rounds, images/batch*batch, batch, note, vggGFLOP),
		Header: []string{"engine", "precision", "threads", "best images/s", "median images/s", "vs ONNX Runtime fp32 (median)", "effective TFLOP/s (median)", "kernels"},
	}
	base := map[int]float64{}
	for _, st := range set {
		f := st.fig
		v := slices.Sorted(slices.Values(f.Rounds))
		f.Best, f.Median = v[len(v)-1], v[len(v)/2]
		if f.Engine == "onnxruntime" && f.Precision == "fp32" {
			base[f.Threads] = f.Median
		}
		raw.Figures = append(raw.Figures, *f)
		t.Rows = append(t.Rows, []string{f.Engine, f.Precision, fmt.Sprint(f.Threads), fmt.Sprintf("%.2f", f.Best), fmt.Sprintf("%.2f", f.Median),
			fmt.Sprintf("%.2f×", f.Median/base[f.Threads]), fmt.Sprintf("%.2f", f.Median*vggGFLOP/1000), f.Kernels})
	}
	s.Tables = append(s.Tables, t)
	for _, c := range closers { // the pipeline opens its own
		c()
	}
	closers = nil
	pipe, err := enginePipe(ctx, b, rt, spec, q, dnnlErr == nil)
	raw.Pipeline = pipe
	if pipe != nil {
		s.Tables = append(s.Tables, pipe.tables()...)
	}
	return s, err
}

// benchInt8 is vgg16-random's int8 model as `simsearch model quantize`
// writes it (internal/quantize's QDQ graph, which ONNX Runtime and
// oneDNN both run), calibrated on three photo-like images rather than
// the reference photos so that a quick run stays seconds long: the
// ranges change the vectors, not the speed. It is kept in dir between
// runs.
func benchInt8(rt *extractor.Runtime, fp model.Spec, dir string) (model.Spec, string, error) {
	s := fp
	s.Name, s.SHA256, s.Quantized, s.Center = "vgg16-random-int8-speed", "", model.QuantizedInt8, nil
	s.Path = filepath.Join(dir, s.Name+".onnx")
	note := "vgg16-random's QDQ int8 model, calibrated (mse) on 3 photo-like images: int8 speed, not int8 accuracy"
	if _, err := os.Stat(s.Path); err == nil {
		return s, note, nil
	}
	plan, err := quantize.AnalyseFile(fp.Path, fp.Output, nil)
	if err != nil {
		return s, "", err
	}
	probe, err := plan.ProbeBytes()
	if err != nil {
		return s, "", err
	}
	p, err := rt.NewProbe(probe, fp.Input, plan.Tensors, 0)
	if err != nil {
		return s, "", err
	}
	defer p.Close()
	hists := make([]*quantize.Histogram, len(plan.Tensors))
	for i := range hists {
		hists[i] = &quantize.Histogram{}
	}
	n := fp.Pre.Size
	in := make([]float32, 3*n*n)
	for k := range 3 {
		data, err := photoJPEG(320+40*k, 240+30*k, uint64(k))
		if err != nil {
			return s, "", err
		}
		img, _, err := extractor.DecodeBytes(data, nil)
		if err != nil {
			return s, "", err
		}
		if err := extractor.Tensor(in, img, fp.Pre); err != nil {
			return s, "", err
		}
		outs, err := p.Run(in, []int64{1, 3, int64(n), int64(n)})
		if err != nil {
			return s, "", err
		}
		for i, o := range outs {
			hists[i].Add(o)
		}
	}
	g, err := plan.Quantize(quantize.Ranges(hists, quantize.MSE))
	if err != nil {
		return s, "", err
	}
	return s, note, onnx.WriteModel(s.Path, g) // whole or not at all
}

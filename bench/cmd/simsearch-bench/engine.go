package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
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
	OneDNN  string         `json:"onednn"` // version and ISA, or why not
	Figures []engineFigure `json:"figures"`
}

// engineRounds is how many times each setting runs, interleaved: AMX's
// throughput on a shared host swings 2-3× from minute to minute (issue
// 16), so best and median over rounds that all settings share say more
// than one long run each.
const engineRounds = 5

// engineRow times vgg16-random's raw trunk (preprocessed input in
// memory) on ONNX Runtime fp32 and oneDNN fp32 and bf16 at each thread
// count, batch 2 (the extractor's default), in interleaved rounds.
func engineRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "Engines: the raw VGG16 trunk on ONNX Runtime and oneDNN (vgg16-random)"}
	raw := &engineRaw{}
	s.Raw = raw
	rt, err := b.runtime()
	if err != nil {
		return s, err
	}
	spec, _, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	ver, isa, dnnlErr := extractor.OneDNN()
	raw.OneDNN = fmt.Sprintf("oneDNN %s (%s)", ver, isa)
	if dnnlErr != nil {
		raw.OneDNN = "unavailable: " + dnnlErr.Error()
		s.Notes = append(s.Notes, "oneDNN rows skipped: "+dnnlErr.Error())
	}
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
		sess, err := rt.NewSession(spec, &extractor.SessionOptions{Threads: th})
		if err != nil {
			return s, err
		}
		closers = append(closers, func() { sess.Close() })
		set = append(set, setting{&engineFigure{Engine: "onnxruntime", Precision: "fp32", Threads: th, Batch: batch}, func() error {
			_, err := sess.Run(in, batch)
			return err
		}})
		if dnnlErr != nil {
			continue
		}
		for _, p := range []onednn.Precision{onednn.FP32, onednn.BF16} {
			x, err := onednn.New(spec, &onednn.Options{Threads: th, Precision: p})
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
		Caption: fmt.Sprintf("%s; %d interleaved rounds of %d images each, batch %d", raw.OneDNN, rounds, images/batch*batch, batch),
		Header:  []string{"engine", "precision", "threads", "best images/s", "median images/s", "vs ONNX Runtime fp32 (median)", "kernels"},
	}
	base := map[int]float64{}
	for _, st := range set {
		f := st.fig
		v := slices.Sorted(slices.Values(f.Rounds))
		f.Best, f.Median = v[len(v)-1], v[len(v)/2]
		if f.Engine == "onnxruntime" {
			base[f.Threads] = f.Median
		}
		raw.Figures = append(raw.Figures, *f)
		t.Rows = append(t.Rows, []string{f.Engine, f.Precision, fmt.Sprint(f.Threads), fmt.Sprintf("%.2f", f.Best), fmt.Sprintf("%.2f", f.Median),
			fmt.Sprintf("%.2f×", f.Median/base[f.Threads]), f.Kernels})
	}
	s.Tables = append(s.Tables, t)
	return s, nil
}

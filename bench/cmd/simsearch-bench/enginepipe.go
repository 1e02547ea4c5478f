package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/model"
)

// pipeRaw is the index pipeline per engine and precision on photo-like
// JPEGs of each size, with where its time goes.
type pipeRaw struct {
	Rounds int            `json:"rounds"`
	Sizes  []pipeSizeFigs `json:"sizes"`
}

type pipeSizeFigs struct {
	Size      photoSize `json:"size"`
	Files     int       `json:"files"`
	FileBytes float64   `json:"file_bytes"`
	// DecodeMS is the CPU time per image of decoding alone on one
	// goroutine (the process's, so the collector's too; median over the
	// rounds): read, SHA-256 (what index records), decode at the
	// extractor's scale, tensor.
	DecodeMS float64      `json:"decode_core_ms"`
	Engines  []pipeEngine `json:"engines"`
}

type pipeEngine struct {
	Engine    string    `json:"engine"`
	Precision string    `json:"precision"`
	Rounds    []float64 `json:"images_per_s"`
	Best      float64   `json:"best"`
	Median    float64   `json:"median"`
	// NetworkMS is the trunk's CPU time per image alone at 1 thread,
	// batch 2 (median over the rounds, timed right after its pipeline
	// turn).
	NetworkMS float64 `json:"network_core_ms"`
}

// enginePipe times the index pipeline (extractor.Files: read, decode at
// reduced DCT scale, resize, network; as `simsearch index` runs it, with
// its default threads, decoding goroutines and batch) per engine and
// precision on 2 MP and 12 MP photo-like JPEGs: every configuration is
// open at once and they take turns, so that other load falls on all
// alike. Beside each it puts the decode's and the network's core-ms per
// image, each timed alone in the same rounds, and the rate those allow on
// this machine's cores, which says whether decoding or the network
// bounds it.
func enginePipe(ctx context.Context, b *bench, rt *extractor.Runtime, fp, q model.Spec, dnnl bool) (*pipeRaw, error) {
	type sizeRun struct {
		ps    photoSize
		n     int // files
		per   int // images per turn
		paths []string
	}
	sizes := []sizeRun{{ps: photoSize{"2MP", 1920, 1080}, n: 40, per: 20}, {ps: photoSize{"12MP", 4000, 3000}, n: 12, per: 6}}
	rounds := 3
	if b.cfg.quick {
		sizes, rounds = []sizeRun{{ps: photoSize{"medium", 640, 480}, n: 4, per: 4}}, 1
	}
	raw := &pipeRaw{Rounds: rounds}
	type conf struct {
		eng  extractor.Engine
		prec extractor.Precision
		spec model.Spec
	}
	confs := []conf{{extractor.EngineORT, extractor.PrecisionFP32, fp}, {extractor.EngineORT, extractor.PrecisionInt8, q}}
	if dnnl {
		confs = append(confs, conf{extractor.EngineOneDNN, extractor.PrecisionBF16, fp}, conf{extractor.EngineOneDNN, extractor.PrecisionInt8, q})
	}
	var exs []*extractor.Extractor
	var nets []func() error // each engine's network alone, 1 thread, one batch of 2
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	n := fp.Pre.Size
	in := make([]float32, 2*3*n*n)
	for i := range in {
		in[i] = float32(i%251)/125 - 1
	}
	for _, c := range confs {
		ex, err := extractor.New(rt, c.spec, &extractor.Options{Raw: true, Engine: c.eng, Precision: c.prec})
		if err != nil {
			return raw, fmt.Errorf("pipeline %s %s: %w", c.eng, c.prec, err)
		}
		closers = append(closers, func() { ex.Close() })
		exs = append(exs, ex)
		if c.eng == extractor.EngineORT {
			sess, err := rt.NewSession(c.spec, &extractor.SessionOptions{Threads: 1})
			if err != nil {
				return raw, err
			}
			closers = append(closers, func() { sess.Close() })
			nets = append(nets, func() error { _, err := sess.Run(in, 2); return err })
			continue
		}
		x, err := onednn.New(c.spec, &onednn.Options{Threads: 1, Precision: onednn.Precision(c.prec)})
		if err != nil {
			return raw, err
		}
		closers = append(closers, func() { x.Close() })
		nets = append(nets, func() error { _, err := x.Run(ctx, in, 2); return err })
	}
	for _, sr := range sizes {
		b.logf("generating %d photo-like JPEGs of %dx%d", sr.n, sr.ps.W, sr.ps.H)
		paths, err := photoDir(b.workDir(), sr.ps, sr.n, 1)
		if err != nil {
			return raw, err
		}
		fs := pipeSizeFigs{Size: sr.ps, Files: sr.n, FileBytes: meanFileSize(paths)}
		for i, ex := range exs {
			if err := ex.Files(ctx, paths[:1], func(r extractor.Result) error { return r.Err }); err != nil { // warm up
				return raw, err
			}
			info := ex.Engine()
			e := "onnxruntime"
			if info.Engine == extractor.EngineOneDNN {
				e = "onednn"
			}
			if info.Engine != confs[i].eng || info.Precision != confs[i].prec {
				return raw, fmt.Errorf("pipeline: asked for %s %s, runs on %s", confs[i].eng, confs[i].prec, info)
			}
			fs.Engines = append(fs.Engines, pipeEngine{Engine: e, Precision: string(info.Precision)})
			if err := nets[i](); err != nil { // warm up
				return raw, err
			}
		}
		var decode []float64
		netMS := make([][]float64, len(exs))
		for r := range rounds {
			d, err := decodeCoreMS(fp.Pre, paths[r%len(paths):])
			if err != nil {
				return raw, err
			}
			decode = append(decode, d)
			for k := range exs {
				i := (r + k) % len(exs) // rotating order
				if err := ctx.Err(); err != nil {
					return raw, err
				}
				from := (r * sr.per) % (len(paths) - sr.per + 1)
				t0 := time.Now()
				if err := exs[i].Files(ctx, paths[from:from+sr.per], func(res extractor.Result) error { return res.Err }); err != nil {
					return raw, err
				}
				rate := float64(sr.per) / time.Since(t0).Seconds()
				fs.Engines[i].Rounds = append(fs.Engines[i].Rounds, rate)
				c0 := processCPU()
				const batches = 2
				for range batches {
					if err := nets[i](); err != nil {
						return raw, err
					}
				}
				netMS[i] = append(netMS[i], (processCPU()-c0).Seconds()*1000/(2*batches))
				b.logf("pipeline %s round %d: %s %s %.2f images/s", sr.ps.Name, r+1, fs.Engines[i].Engine, fs.Engines[i].Precision, rate)
			}
		}
		fs.DecodeMS = median(decode)
		for i := range fs.Engines {
			v := slices.Sorted(slices.Values(fs.Engines[i].Rounds))
			fs.Engines[i].Best, fs.Engines[i].Median = v[len(v)-1], v[len(v)/2]
			fs.Engines[i].NetworkMS = median(netMS[i])
		}
		raw.Sizes = append(raw.Sizes, fs)
	}
	return raw, nil
}

// decodeCoreMS is the CPU time per image of one goroutine decoding
// paths (at most 4) as a pipeline worker does: read, hash, decode with
// the extractor's options, tensor. It is the process's CPU time (nothing
// else of ours runs meanwhile): on a loaded machine wall time also
// counts the waits for a core.
func decodeCoreMS(pre model.Preprocess, paths []string) (float64, error) {
	o := &extractor.DecodeOptions{MinSide: extractor.MinSideFor(pre), DCTMinSide: extractor.DCTMinSideFor(pre)}
	dst := make([]float32, 3*pre.Size*pre.Size)
	use := paths[:min(len(paths), 4)]
	c0 := processCPU()
	for _, p := range use {
		data, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		sha256.Sum256(data)
		img, _, err := extractor.DecodeBytes(data, o)
		if err != nil {
			return 0, err
		}
		if err := extractor.Tensor(dst, img, pre); err != nil {
			return 0, err
		}
	}
	return (processCPU() - c0).Seconds() * 1000 / float64(len(use)), nil
}

// processCPU is the CPU time this process has used, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tables are the pipeline's rows: per size and engine, the images/s and
// where the time goes.
func (p *pipeRaw) tables() []Table {
	cores := runtime.NumCPU()
	t := Table{
		Caption: fmt.Sprintf("The index pipeline (extractor.Files with index's defaults: batch %d, %d decoding goroutines), %d interleaved rounds in rotating order. "+
			"In each round, after the pipeline turns: decode alone, CPU per image on one goroutine (read, SHA-256, decode at the DCT scale the extractor picks, resize), and each network alone, CPU per image at 1 thread, batch 2; medians. "+
			"bound: %d cores ÷ (decode + network), what the pipeline could reach if the two overlapped perfectly", extractor.DefaultBatch, extractor.DefaultWorkers(), p.Rounds, cores),
		Header: []string{"photos", "engine", "precision", "best images/s", "median images/s", "decode core-ms", "network core-ms", "bound images/s", "median ÷ bound"},
	}
	for _, s := range p.Sizes {
		for _, e := range s.Engines {
			bound, frac := "", ""
			if e.NetworkMS > 0 {
				bd := float64(cores) * 1000 / (s.DecodeMS + e.NetworkMS)
				bound, frac = fmt.Sprintf("%.1f", bd), fmt.Sprintf("%.2f", e.Median/bd)
			}
			t.Rows = append(t.Rows, []string{fmt.Sprintf("%d× %d×%d (%.0f KB)", s.Files, s.Size.W, s.Size.H, s.FileBytes/1024), e.Engine, e.Precision,
				fmt.Sprintf("%.1f", e.Best), fmt.Sprintf("%.1f", e.Median), fmt.Sprintf("%.1f", s.DecodeMS), fmt.Sprintf("%.1f", e.NetworkMS), bound, frac})
		}
	}
	return []Table{t}
}

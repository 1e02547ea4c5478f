package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// trunkGFLOP is the VGG16 trunk's cost per 224×224 image: 15.35 G
// multiply-adds in the 13 convolutions, two FLOP each.
const trunkGFLOP = 30.7

// pipelineTarget is the floor for the whole pipeline's throughput
// over the raw session's, on 2 MP photos.
const pipelineTarget = 0.9

type rawFigure struct {
	Model    string  `json:"model"`  // fp32 or int8
	Before   string  `json:"before"` // the pipeline run it was timed next to
	Threads  int     `json:"threads"`
	Batch    int     `json:"batch"`
	Images   int     `json:"images"`
	Seconds  float64 `json:"seconds"`
	ImagesPS float64 `json:"images_per_s"`
}

type pipeFigure struct {
	Model    string  `json:"model"` // fp32 or int8
	Size     string  `json:"size"`
	Threads  int     `json:"threads"`
	Batch    int     `json:"batch"`
	Images   int     `json:"images"`
	RawPS    float64 `json:"raw_images_per_s"` // the raw session, timed just before
	Wall     float64 `json:"wall_s"`
	WallPS   float64 `json:"wall_images_per_s"` // from start to last result, pipeline fill included
	SteadyPS float64 `json:"steady_images_per_s"`
	Ratio    float64 `json:"ratio_steady_to_raw"`
}

type decodeFigure struct {
	Size        string  `json:"size"`
	W           int     `json:"w"`
	H           int     `json:"h"`
	FileBytes   float64 `json:"file_bytes"`
	ReadHashMS  float64 `json:"read_hash_ms"`
	FullMS      float64 `json:"decode_full_ms"`
	FullTensor  float64 `json:"tensor_from_full_ms"`
	ShrinkMS    float64 `json:"decode_shrink_ms"`
	ShrinkTens  float64 `json:"tensor_from_shrunk_ms"`
	ShrinkSide  int     `json:"shrunk_w"`
	PipelineSum float64 `json:"pipeline_ms"` // read+hash + shrink decode + tensor: what indexing does per image
}

type extractRaw struct {
	Int8     string         `json:"int8_model"` // what the int8 rows ran
	CPUFlags []string       `json:"cpu_flags"`
	Raw      []rawFigure    `json:"raw_session"`
	Pipeline []pipeFigure   `json:"pipeline"`
	Decode   []decodeFigure `json:"decode_preprocess"`
	Conv     []convFigure   `json:"conv_ceiling"`
	HEIF     []heifFigure   `json:"decode_heif,omitempty"` // heif.go
}

func extractRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "1. Extraction (vgg16-random)"}
	raw := &extractRaw{}
	s.Raw = raw
	rt, err := b.runtime()
	if err != nil {
		return s, err
	}
	spec, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	int8Spec, int8Note, err := b.int8Model(spec, dir)
	if err != nil {
		return s, err
	}
	raw.Int8, raw.CPUFlags = int8Note, readMachine().CPUFlags
	specs := map[string]model.Spec{"fp32": spec, "int8": int8Spec}
	files := map[string][]string{}
	for _, ps := range b.sz.photos {
		b.logf("generating %d photo-like JPEGs of %dx%d", b.sz.pipeImages[ps.Name], ps.W, ps.H)
		if files[ps.Name], err = photoDir(b.workDir(), ps, b.sz.pipeImages[ps.Name], 1); err != nil {
			return s, err
		}
	}

	// The raw session (preprocessed input already in memory) is timed
	// right before each pipeline run with the same threads and batch, so
	// that both see the same machine when other work comes and goes.
	// int8 and fp32 take turns at each setting, in one run.
	sessions := map[string]*extractor.Session{}
	defer func() {
		for _, sess := range sessions {
			sess.Close()
		}
	}()
	for _, m := range extractModels {
		for _, th := range b.sz.threads {
			key := fmt.Sprintf("%s/%d", m, th)
			if sessions[key], err = rt.NewSession(specs[m], &extractor.SessionOptions{Threads: th}); err != nil {
				return s, err
			}
		}
	}
	for _, ps := range b.sz.photos {
		for _, th := range b.sz.threads {
			for _, bs := range b.sz.batches {
				for _, m := range extractModels {
					if err := ctx.Err(); err != nil {
						return s, err
					}
					r, err := timeSession(sessions[fmt.Sprintf("%s/%d", m, th)], specs[m], th, bs, b.sz.rawImages)
					if err != nil {
						return s, err
					}
					r.Model, r.Before = m, ps.Name
					raw.Raw = append(raw.Raw, r)
					f, err := timePipeline(ctx, rt, specs[m], files[ps.Name], th, bs, filepath.Join(b.tmp, "pipeline.db"))
					if err != nil {
						return s, err
					}
					f.Model, f.Size, f.RawPS = m, ps.Name, r.ImagesPS
					f.Ratio = f.SteadyPS / r.ImagesPS
					b.logf("%s %s threads=%d batch=%d: raw %.2f img/s, pipeline %.2f steady, %.2f wall, ratio %.2f", m, ps.Name, th, bs, r.ImagesPS, f.SteadyPS, f.WallPS, f.Ratio)
					raw.Pipeline = append(raw.Pipeline, f)
				}
			}
		}
	}

	// Decode and preprocess, one image at a time on one goroutine.
	spec = specs["fp32"]
	for _, ps := range b.sz.photos {
		f, err := timeDecode(spec.Pre, files[ps.Name], b.sz.decodeReps[ps.Name])
		if err != nil {
			return s, err
		}
		f.Size, f.W, f.H = ps.Name, ps.W, ps.H
		raw.Decode = append(raw.Decode, f)
	}

	// The ceiling: one big convolution.
	for _, th := range b.sz.threads {
		for _, depth := range []int{1, 4} {
			c := b.sz.conv
			c.Depth = depth
			f, err := convCeiling(rt, c, th, b.cfg.quick)
			if err != nil {
				return s, fmt.Errorf("conv ceiling: %w", err)
			}
			b.logf("conv ceiling threads=%d depth=%d: %.1f GFLOP/s", th, depth, f.GFLOPS)
			raw.Conv = append(raw.Conv, f)
		}
	}
	extractTables(&s, raw, b.sz)
	big := b.sz.photos[len(b.sz.photos)-1].Name
	t, figs, err := heifTable(b.workDir(), files[big][0], spec.Pre, b.sz.decodeReps[big])
	if err != nil {
		return s, fmt.Errorf("heif decode row: %w", err)
	}
	s.Tables, raw.HEIF = append(s.Tables, t), figs
	return s, nil
}

// extractModels are the precisions the extract row compares.
var extractModels = []string{"fp32", "int8"}

// int8Model is the int8 model of the extract row: -int8's, installed in
// dir, or a stand-in made here from the fp32 spec: the VGG16 trunk
// quantized with constant scales (onnxtest.QuantizedVGG), which runs at
// int8 speed but whose vectors mean nothing. The note says which.
func (b *bench) int8Model(fp model.Spec, dir string) (model.Spec, string, error) {
	if b.cfg.int8 != "" {
		s, err := model.Load(dir, b.cfg.int8)
		if err != nil {
			return s, "", fmt.Errorf("int8 model: %w", err)
		}
		return s, s.Name, nil
	}
	path := filepath.Join(dir, "vgg16-int8-standin.onnx")
	if _, err := os.Stat(path); err != nil {
		q, err := onnxtest.QuantizedVGG(onnx.VGG16Config(false), onnxtest.DequantizedPool)
		if err != nil {
			return model.Spec{}, "", err
		}
		if err := onnx.WriteModel(path, q.Model); err != nil {
			return model.Spec{}, "", err
		}
	}
	s := fp
	s.Name, s.Path, s.Output, s.SHA256, s.Logits, s.Classes = "vgg16-int8-standin", path, "features", "", "", 0
	return s, "stand-in: the VGG16 trunk quantized with constant scales (QOperator int8, uncalibrated); -int8 MODEL runs a real one", nil
}

func timeSession(sess *extractor.Session, spec model.Spec, threads, batch, images int) (rawFigure, error) {
	n := spec.Pre.Size
	in := make([]float32, batch*3*n*n)
	for i := range in {
		in[i] = float32(i%251)/125 - 1
	}
	if _, err := sess.Run(in, batch); err != nil { // warm up this shape
		return rawFigure{}, err
	}
	runs := max(1, images/batch)
	start := time.Now()
	for range runs {
		if _, err := sess.Run(in, batch); err != nil {
			return rawFigure{}, err
		}
	}
	el := time.Since(start).Seconds()
	return rawFigure{Threads: threads, Batch: batch, Images: runs * batch, Seconds: el, ImagesPS: float64(runs*batch) / el}, nil
}

// timePipeline runs what simsearch index does for each file (read it,
// hash it, decode, orient, resize, normalise, network, pool, centre,
// store in batches, add to the HNSW index) and times it from the start
// and, for the steady rate, from the end of the first batch, which
// leaves out the pipeline's fill.
func timePipeline(ctx context.Context, rt *extractor.Runtime, spec model.Spec, paths []string, threads, batch int, dbPath string) (pipeFigure, error) {
	f := pipeFigure{Threads: threads, Batch: batch, Images: len(paths)}
	os.Remove(dbPath)
	db, err := store.Open(dbPath, &store.Options{Fingerprint: spec.Fingerprint(spec.Pooling), ModelName: spec.Name, Dims: spec.Channels})
	if err != nil {
		return f, err
	}
	defer func() { db.Close(); os.Remove(dbPath) }()
	ex, err := extractor.New(rt, spec, &extractor.Options{Threads: threads, Batch: batch})
	if err != nil {
		return f, err
	}
	defer ex.Close()
	idx := index.NewHNSW(spec.Channels, nil)
	// Warm up the session at this batch size outside the clock.
	warm := make([]string, min(batch, len(paths)))
	copy(warm, paths)
	if err := ex.Files(ctx, warm, func(r extractor.Result) error { return r.Err }); err != nil {
		return f, err
	}

	src := make([]extractor.Source, len(paths))
	items := make([]store.Item, len(paths))
	for i, p := range paths {
		src[i] = extractor.Source{Path: p, Decode: func(o *extractor.DecodeOptions) (*extractor.RGB, extractor.Info, error) {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, extractor.Info{}, err
			}
			fi, err := os.Stat(p)
			if err != nil {
				return nil, extractor.Info{}, err
			}
			items[i] = store.Item{Path: p, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Hash: sha256.Sum256(data)}
			return extractor.DecodeBytes(data, o)
		}}
	}
	const commitBatch = 256 // simsearch.IndexOptions' default
	var recs []store.Record
	commit := func() error {
		if len(recs) == 0 {
			return nil
		}
		ids, err := db.Put(recs)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if err := idx.Add(ids[i], r.Vector); err != nil {
				return err
			}
		}
		recs = recs[:0]
		return nil
	}
	done := 0
	var firstBatch time.Time
	start := time.Now()
	err = ex.Sources(ctx, src, func(r extractor.Result) error {
		if r.Err != nil {
			return fmt.Errorf("%s: %w", r.Path, r.Err)
		}
		it := items[r.Seq]
		it.Width, it.Height, it.Format = r.Info.Width, r.Info.Height, r.Info.Format
		recs = append(recs, store.Record{Item: it, Vector: r.Vector})
		done++
		if done == min(batch, len(paths)) {
			firstBatch = time.Now()
		}
		if len(recs) >= commitBatch {
			return commit()
		}
		return nil
	})
	if err == nil {
		err = commit()
	}
	if err != nil {
		return f, err
	}
	end := time.Now()
	f.Wall = end.Sub(start).Seconds()
	f.WallPS = float64(done) / f.Wall
	if rest := done - min(batch, len(paths)); rest > 0 {
		f.SteadyPS = float64(rest) / end.Sub(firstBatch).Seconds()
	} else {
		f.SteadyPS = f.WallPS
	}
	return f, nil
}

// timeDecode measures, per image, reading and hashing the file, decoding
// at full size and with the shrink the extractor asks for, and making the
// tensor from each; medians over reps passes.
func timeDecode(pre model.Preprocess, paths []string, reps int) (decodeFigure, error) {
	f := decodeFigure{FileBytes: meanFileSize(paths)}
	dst := make([]float32, 3*pre.Size*pre.Size)
	var readHash, full, fullT, shrink, shrinkT []float64
	use := paths[:min(len(paths), 4)]
	clock := func(fn func() error) (float64, error) {
		t := time.Now()
		err := fn()
		return float64(time.Since(t).Microseconds()) / 1000, err
	}
	for range reps {
		for _, p := range use {
			var data []byte
			d, err := clock(func() (err error) {
				data, err = os.ReadFile(p)
				sha256.Sum256(data)
				return err
			})
			if err != nil {
				return f, err
			}
			readHash = append(readHash, d)
			for _, minSide := range []int{0, extractor.MinSideFor(pre)} {
				var img *extractor.RGB
				d, err := clock(func() (err error) {
					img, _, err = extractor.DecodeBytes(data, &extractor.DecodeOptions{MinSide: minSide})
					return err
				})
				if err != nil {
					return f, err
				}
				t, err := clock(func() error { return extractor.Tensor(dst, img, pre) })
				if err != nil {
					return f, err
				}
				if minSide == 0 {
					full, fullT = append(full, d), append(fullT, t)
				} else {
					shrink, shrinkT = append(shrink, d), append(shrinkT, t)
					f.ShrinkSide = img.W
				}
			}
		}
	}
	f.ReadHashMS, f.FullMS, f.FullTensor = median(readHash), median(full), median(fullT)
	f.ShrinkMS, f.ShrinkTens = median(shrink), median(shrinkT)
	f.PipelineSum = f.ReadHashMS + f.ShrinkMS + f.ShrinkTens
	return f, nil
}

func median(v []float64) float64 { return percentile(v, 0.5) }

// percentile is the q-quantile of v by the nearest rank; v is sorted in
// place.
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(q*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}

func extractTables(s *Section, raw *extractRaw, sz sizes) {
	t := Table{
		Caption: "Images per second: the raw ONNX Runtime session (input already preprocessed, in memory), timed right before each pipeline run with the same threads and batch, against the whole pipeline on JPEG files on disk (read, SHA-256, decode, orient, resize, normalise, network, pool, store in batches of 256, add to HNSW). Steady: from the end of the first batch to the last result (what a long `simsearch index` run sees); wall: from the start, pipeline fill included. Ratio: steady ÷ raw.",
		Header:  []string{"model", "threads", "batch"},
	}
	for _, ps := range sz.photos {
		t.Header = append(t.Header, fmt.Sprintf("%s (%d×%d): raw", ps.Name, ps.W, ps.H), "steady", "wall", "ratio")
	}
	for _, m := range extractModels {
		for _, th := range sz.threads {
			for _, bs := range sz.batches {
				row := []string{m, fmt.Sprint(th), fmt.Sprint(bs)}
				for _, ps := range sz.photos {
					if p, ok := findPipe(raw, m, ps.Name, th, bs); ok {
						row = append(row, rate(p.RawPS), rate(p.SteadyPS), rate(p.WallPS), fmt.Sprintf("%.2f", p.Ratio))
					}
				}
				t.Rows = append(t.Rows, row)
			}
		}
	}
	s.Tables = append(s.Tables, t)

	q := Table{
		Caption: fmt.Sprintf("int8 ÷ fp32 at the extractor's default batch (%d), from the rows above, timed in one run, int8 right after fp32 at each setting. int8 model: %s. CPU flags: %s.", extractor.DefaultBatch, raw.Int8, strings.Join(raw.CPUFlags, " ")),
		Header:  []string{"size", "threads", "raw fp32", "raw int8", "raw int8÷fp32", "pipeline fp32", "pipeline int8", "pipeline int8÷fp32", "int8 pipeline÷raw"},
	}
	for _, ps := range sz.photos {
		for _, th := range sz.threads {
			f, ok1 := findPipe(raw, "fp32", ps.Name, th, extractor.DefaultBatch)
			i, ok2 := findPipe(raw, "int8", ps.Name, th, extractor.DefaultBatch)
			if !ok1 || !ok2 {
				continue
			}
			q.Rows = append(q.Rows, []string{ps.Name, fmt.Sprint(th), rate(f.RawPS), rate(i.RawPS), fmt.Sprintf("%.2f", i.RawPS/f.RawPS),
				rate(f.SteadyPS), rate(i.SteadyPS), fmt.Sprintf("%.2f", i.SteadyPS/f.SteadyPS), fmt.Sprintf("%.2f", i.Ratio)})
		}
	}
	if len(q.Rows) > 0 {
		s.Tables = append(s.Tables, q)
	}

	d := Table{
		Caption: "Decode and preprocess, ms per image on one goroutine (median). The resize has one filter (integer box shrink, then an antialiased triangle filter, see extractor.Tensor); what varies is whether the decoder shrinks while converting colours (`MinSide`, what the extractor asks for) or decodes at full size.",
		Header:  []string{"size", "file", "read + SHA-256", "decode full", "tensor from full", "decode with shrink", "tensor from shrunk", "per image as indexed"},
	}
	for _, f := range raw.Decode {
		d.Rows = append(d.Rows, []string{
			fmt.Sprintf("%s %d×%d", f.Size, f.W, f.H), mib(f.FileBytes), ms(f.ReadHashMS),
			ms(f.FullMS), ms(f.FullTensor), fmt.Sprintf("%s (to %d px wide)", ms(f.ShrinkMS), f.ShrinkSide), ms(f.ShrinkTens), ms(f.PipelineSum),
		})
	}
	s.Tables = append(s.Tables, d)

	c := Table{
		Caption: fmt.Sprintf("The ceiling: ONNX Runtime on one %d→%d 3×3 convolution (pad 1, %d×%d, batch %d; %.3g GFLOP per run), alone and as a chain of 4 (which spreads ONNX Runtime's layout conversion around it), against the fp32 VGG16 trunk (%.1f GFLOP per 224×224 image) at its best raw measurement. The fraction is of the higher of the two.", sz.conv.Channels, sz.conv.Channels, sz.conv.Side, sz.conv.Side, sz.conv.Batch, sz.conv.GFLOP(), trunkGFLOP),
		Header:  []string{"threads", "conv GFLOP/s: one", "chain of 4", "trunk img/s (best raw)", "trunk GFLOP/s", "fraction of ceiling"},
	}
	ceil := map[int]float64{}
	for _, cf := range raw.Conv {
		ceil[cf.Threads] = max(ceil[cf.Threads], cf.GFLOPS)
	}
	for _, th := range sz.threads {
		best := 0.0
		for _, r := range raw.Raw {
			if r.Threads == th && r.Model == "fp32" { // trunkGFLOP counts fp32 multiply-adds
				best = max(best, r.ImagesPS)
			}
		}
		row := []string{fmt.Sprint(th)}
		for i := range raw.Conv {
			cf := &raw.Conv[i]
			if cf.Threads == th {
				cf.TrunkFraction = trunkGFLOP * best / ceil[th]
				row = append(row, rate(cf.GFLOPS))
			}
		}
		row = append(row, rate(best), rate(trunkGFLOP*best), fmt.Sprintf("%.2f", trunkGFLOP*best/ceil[th]))
		c.Rows = append(c.Rows, row)
	}
	s.Tables = append(s.Tables, c)

	// The target: ratio ≥ 0.9 on 2 MP files, at every batch and thread
	// count, for each precision.
	if !slices.ContainsFunc(sz.photos, func(p photoSize) bool { return p.Name == "2MP" }) {
		return
	}
	for _, m := range extractModels {
		worst, met := pipeFigure{Ratio: 1e9}, 0
		n := 0
		for _, p := range raw.Pipeline {
			if p.Size != "2MP" || p.Model != m {
				continue
			}
			n++
			if p.Ratio >= pipelineTarget {
				met++
			}
			if p.Ratio < worst.Ratio {
				worst = p
			}
		}
		if n > 0 {
			s.Targets = append(s.Targets, Target{
				What: fmt.Sprintf("%s pipeline ÷ raw session on 2 MP JPEGs, every threads × batch", m),
				Want: fmt.Sprintf("≥ %.2f", pipelineTarget),
				Got:  fmt.Sprintf("%d of %d; lowest %.2f (threads %d, batch %d)", met, n, worst.Ratio, worst.Threads, worst.Batch),
				Met:  met == n,
			})
		}
	}
}

// findPipe is the pipeline figure of one model, size, threads and batch.
func findPipe(raw *extractRaw, m, size string, threads, batch int) (pipeFigure, bool) {
	for _, p := range raw.Pipeline {
		if p.Model == m && p.Size == size && p.Threads == threads && p.Batch == batch {
			return p, true
		}
	}
	return pipeFigure{}, false
}

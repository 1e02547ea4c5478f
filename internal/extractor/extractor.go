package extractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/simsearch/simsearch/model"
)

// Options configure an Extractor. The zero value (or nil) means: the model's
// default pooling, batches of DefaultBatch, one decoding goroutine per
// core, ONNX Runtime on all cores without spinning, DefaultDecodeBudget,
// the default pixel and file size limits.
type Options struct {
	Pooling   model.Pooling // "" means spec.Pooling
	Batch     int           // images per network run
	Workers   int           // decode+preprocess goroutines
	Threads   int           // network threads: ONNX Runtime's intra-op, or oneDNN's OpenMP
	MaxPixels int64         // decode limit; 0 means DefaultMaxPixels
	MaxBytes  int64         // file size limit of Files; 0 means DefaultMaxBytes
	// DecodeBudget is the most memory the decoding goroutines hold at once
	// for sources with Read (Files' among them), as estimated from each
	// header before decoding; 0 means DefaultDecodeBudget.
	DecodeBudget int64
	// Raw skips the model's centring step and returns the plain
	// L2-normalised pooled vector. It is how the centre itself is computed.
	Raw bool
	// FeatureMaps returns each image's whole C×H×W feature map in
	// Result.Vector instead of a pooled vector (for calibration tools).
	FeatureMaps bool
	// GraphCache is SessionOptions.CacheDir: where the optimised graph is
	// kept between processes; "" means nowhere.
	GraphCache string
	Log        io.Writer // notes about the graph cache; nil discards them
	// Spin is SessionOptions.Spin: off unless set.
	Spin bool
	// Engine and Precision choose what runs the trunk (see ChooseEngine);
	// "" means EngineORT and PrecisionAuto.
	Engine    Engine
	Precision Precision
	// BF16Features and Int8Features return the CPU's bf16 and int8
	// instructions for EngineAuto; nil reads /proc/cpuinfo.
	BF16Features, Int8Features func() []string
}

// DefaultBatch is Options.Batch when none is set. Batch hardly changes
// VGG16's speed on a CPU (BenchmarkPipelineTuning, 2 MP JPEGs, 2
// threads, on 2 busy cores, load 9-10: fp32 2.75, 2.21, 2.87, 2.21
// images/s at batch 1, 2, 4, 8, int8 6.45, 6.08, 6.97, 5.74, all within
// the noise), but ONNX Runtime's memory grows with it: the session's
// peak over the loaded model is 23, 55, 122 and 253 MB at batch 1, 2, 4
// and 8 (arena on, memory pattern off). 2 keeps `simsearch index` under
// 400 MB with room for the decode budget. Spinning cost 20% there (int8
// 4.75 against 6.08, fp32 1.95 against 2.21): it is off.
const DefaultBatch = 2

// DefaultWorkers is Options.Workers when none is set: one decoding
// goroutine per core.
func DefaultWorkers() int { return runtime.NumCPU() }

// Extractor turns image files into embeddings: decode, orient, preprocess
// in parallel goroutines, run batches through one ONNX Runtime session
// (or the oneDNN executor, see Options.Engine), pool, L2-normalise and
// centre. It is safe for concurrent use.
type Extractor struct {
	spec    model.Spec
	net     features // the ONNX Runtime session or the oneDNN executor
	engine  EngineInfo
	pooling model.Pooling
	center  []float32
	batch   int
	workers int
	decode  DecodeOptions
	budget  int64 // Options.DecodeBudget
	rawMaps bool  // emit feature maps instead of embeddings (for centres)
}

// New opens spec's model on rt. Close the Extractor before rt.
func New(rt *Runtime, spec model.Spec, opts *Options) (*Extractor, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Pooling == "" {
		o.Pooling = spec.Pooling
	}
	if err := CheckPooling(spec, o.Pooling); err != nil {
		return nil, err
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers()
	}
	if o.DecodeBudget <= 0 {
		o.DecodeBudget = DefaultDecodeBudget
	}
	e := &Extractor{spec: spec, pooling: o.Pooling, batch: o.Batch, workers: o.Workers, budget: o.DecodeBudget, rawMaps: o.FeatureMaps}
	e.decode.MaxPixels = o.MaxPixels
	e.decode.MaxBytes = o.MaxBytes
	// Let the decoder shrink big photos while converting colours: Tensor
	// needs no more than twice the network's input side.
	e.decode.MinSide = MinSideFor(spec.Pre)
	e.decode.DCTMinSide = DCTMinSideFor(spec.Pre)
	if !o.Raw && !o.FeatureMaps {
		c, ok := spec.Center[o.Pooling]
		if !ok {
			return nil, fmt.Errorf("model %s has no centre vector for %s pooling; rebuild or re-pull it", spec.Name, o.Pooling)
		}
		if len(c) != spec.Channels {
			return nil, fmt.Errorf("model %s: centre vector has %d values, want %d", spec.Name, len(c), spec.Channels)
		}
		e.center = c
	}
	if _, err := Pool(make([]float32, spec.Channels*spec.GridH*spec.GridW), spec.Channels, spec.GridH, spec.GridW, o.Pooling); err != nil {
		return nil, err
	}
	net, info, err := openFeatures(rt, spec, o)
	if err != nil {
		return nil, err
	}
	e.net, e.engine = net, info
	return e, nil
}

// Dims is the length of the embeddings this Extractor returns.
func (e *Extractor) Dims() int { return e.spec.Channels }

// Pooling is the pooling method in use.
func (e *Extractor) Pooling() model.Pooling { return e.pooling }

// Spec is the model this Extractor runs.
func (e *Extractor) Spec() model.Spec { return e.spec }

// Engine says what runs the trunk, in which precision.
func (e *Extractor) Engine() EngineInfo { return e.engine }

// Close releases the ONNX Runtime session or the oneDNN executor.
func (e *Extractor) Close() error { return e.net.Close() }

// Result is the outcome for one input. Exactly one of Vector and Err is set;
// Err is a per-file problem (unreadable, not an image, too large) and the
// run goes on.
type Result struct {
	Seq    int    // position of the input in the request
	Path   string // as given
	Info   Info
	Vector []float32
	// Scores are the classifier's raw scores (logits, Spec.Classes of
	// them; classify.Softmax makes probabilities), from the same network
	// run as Vector; nil when the model has no classifier output
	// (Spec.Logits) or the image was not embedded here (a stored vector).
	Scores []float32
	Err    error
}

// Source opens one input. Files uses os paths; tests and the reference set
// use other file systems. Set Read or Decode.
type Source struct {
	Path string
	// Read returns the file's bytes (opts.MaxBytes says how many at
	// most). Sources then reserves from the Extractor's decode budget what
	// the header says decoding will hold, and decodes with DecodeBytes.
	Read func(opts *DecodeOptions) ([]byte, error)
	// Decode decodes the input by itself, outside the decode budget; it
	// is used only when Read is nil.
	Decode func(opts *DecodeOptions) (*RGB, Info, error)
	// MaxPixels, when above 0, is this input's decode limit instead of
	// the Extractor's (Options.MaxPixels), for a source with Read.
	MaxPixels int64

	named bool // decode errors say Path, as DecodeFile's do
}

// FileSource reads the file at path with ReadImage's guards (a FIFO or
// device is refused, never opened), then decodes it within the budget.
func FileSource(path string) Source {
	return Source{Path: path, Read: func(o *DecodeOptions) ([]byte, error) {
		b, _, err := ReadImage(path, o.MaxBytes)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return b, nil
	}, named: true}
}

// decodeSource decodes s, for a source with Read within b: it returns
// the bytes reserved there, to release once the image is dropped.
func (e *Extractor) decodeSource(ctx context.Context, b *budget, s Source) (*RGB, Info, int64, error) {
	if s.Read == nil {
		img, info, err := s.Decode(&e.decode)
		return img, info, 0, err
	}
	data, err := s.Read(&e.decode)
	if err != nil {
		return nil, Info{}, 0, err
	}
	o := e.decode
	o.Name = s.Path // a camera raw file in a plain TIFF container is known by its extension
	if s.MaxPixels > 0 {
		o.MaxPixels = s.MaxPixels
	}
	held, err := b.acquire(ctx, decodeCost(data, &o))
	if err != nil {
		return nil, Info{}, 0, err
	}
	img, info, err := DecodeBytes(data, &o)
	if err != nil && s.named {
		err = fmt.Errorf("decode %s: %w", s.Path, err)
	}
	return img, info, held, err
}

// Files embeds the files at paths, calling emit once per path, in batch
// order (not necessarily input order). It stops at the first error from
// emit, from ctx or from the network, and returns it; per-file problems are
// reported through Result.Err instead. When ctx is cancelled it returns
// ctx's error at once, stopping the network mid-batch; a file being
// decoded then is finished in the background and dropped.
func (e *Extractor) Files(ctx context.Context, paths []string, emit func(Result) error) error {
	src := make([]Source, len(paths))
	for i, p := range paths {
		src[i] = FileSource(p)
	}
	return e.Sources(ctx, src, emit)
}

type prepared struct {
	seq    int
	path   string
	info   Info
	tensor []float32
	err    error
}

// Sources is Files over arbitrary inputs.
func (e *Extractor) Sources(ctx context.Context, src []Source, emit func(Result) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	n := e.spec.Pre.Size
	inLen := 3 * n * n
	jobs := make(chan int)
	ready := make(chan prepared, 2*e.batch)
	mem := newBudget(e.budget)

	var wg sync.WaitGroup
	for w := 0; w < min(e.workers, len(src)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scratch
			for i := range jobs {
				p := prepared{seq: i, path: src[i].Path}
				img, info, held, err := e.decodeSource(ctx, mem, src[i])
				if err == nil {
					t := make([]float32, inLen)
					if err = sc.tensor(t, img, e.spec.Pre); err == nil {
						p.tensor = t
					}
				}
				mem.release(held) // the tensor is small and fixed: only pixels count
				p.info, p.err = info, err
				select {
				case ready <- p:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range src {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(ready) }()

	batch := make([]prepared, 0, e.batch)
	input := make([]float32, 0, e.batch*inLen)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		input = input[:0]
		for _, p := range batch {
			input = append(input, p.tensor...)
		}
		fm, scores, err := e.net.RunScores(ctx, input, len(batch))
		if err != nil {
			return err
		}
		per := e.spec.Channels * e.spec.GridH * e.spec.GridW
		for i, p := range batch {
			var sc []float32
			if scores != nil {
				k := e.spec.Classes
				sc = scores[i*k : (i+1)*k : (i+1)*k]
			}
			if e.rawMaps {
				m := append([]float32(nil), fm[i*per:(i+1)*per]...)
				if err := emit(Result{Seq: p.seq, Path: p.path, Info: p.info, Vector: m, Scores: sc}); err != nil {
					return err
				}
				continue
			}
			v, err := Pool(fm[i*per:(i+1)*per], e.spec.Channels, e.spec.GridH, e.spec.GridW, e.pooling)
			if err != nil {
				return err
			}
			if e.center != nil {
				Center(v, e.center)
			}
			if err := emit(Result{Seq: p.seq, Path: p.path, Info: p.info, Vector: v, Scores: sc}); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	for {
		var p prepared
		var ok bool
		select {
		case p, ok = <-ready:
		case <-ctx.Done():
			// Do not wait for a decode in progress: one huge image can
			// take seconds, and a stopped run must stop now.
			return ctx.Err()
		}
		if !ok {
			break
		}
		if p.err != nil {
			if err := emit(Result{Seq: p.seq, Path: p.path, Info: p.info, Err: p.err}); err != nil {
				return err
			}
			continue
		}
		batch = append(batch, p)
		if len(batch) == e.batch {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return ctx.Err()
}

// ErrNoCentre is returned by ComputeCentres when no reference photo could be
// embedded.
var ErrNoCentre = errors.New("no reference photo could be embedded")

// ComputeCentres runs spec's model over the reference photos and returns,
// for every pooling method, the mean of the L2-normalised pooled vectors:
// the common component that post-processing subtracts. Photos that fail to
// decode are skipped; the error says which if none succeeds.
func ComputeCentres(ctx context.Context, rt *Runtime, spec model.Spec, src []Source, threads int) (map[model.Pooling][]float32, error) {
	e, err := New(rt, spec, &Options{FeatureMaps: true, Threads: threads})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	methods := Poolings(spec)
	sums := make(map[model.Pooling][]float64, len(methods))
	for _, m := range methods {
		sums[m] = make([]float64, spec.Channels)
	}
	n := 0
	var firstErr error
	err = e.Sources(ctx, src, func(r Result) error {
		if r.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", r.Path, r.Err)
			}
			return nil
		}
		for _, m := range methods {
			v, err := Pool(r.Vector, spec.Channels, spec.GridH, spec.GridW, m)
			if err != nil {
				return err
			}
			for i, x := range v {
				sums[m][i] += float64(x)
			}
		}
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w (first problem: %v)", ErrNoCentre, firstErr)
	}
	out := make(map[model.Pooling][]float32, len(methods))
	for _, m := range methods {
		c := make([]float32, spec.Channels)
		for i, x := range sums[m] {
			c[i] = float32(x / float64(n))
		}
		out[m] = c
	}
	return out, nil
}

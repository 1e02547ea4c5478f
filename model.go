package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/reference"
	"github.com/simsearch/simsearch/model"
)

// ErrModelNotInstalled means the requested model is not in the model
// directory, or not ready to run there (built by an older simsearch, or
// without its post-processing centres). PrepareModel makes a catalog model
// that needs no download ready; others must be pulled or registered. It is
// model.ErrNotInstalled, so errors.Is matches either name.
var ErrModelNotInstalled = model.ErrNotInstalled

// Errors from ONNX Runtime, for errors.Is.
var (
	// ErrNoRuntime means the ONNX Runtime shared library was not found;
	// the error lists every path tried (see LibraryEnv).
	ErrNoRuntime = extractor.ErrNoLibrary
	// ErrModelFile means ONNX Runtime could not load the model file
	// (truncated, or not the network its spec describes).
	ErrModelFile = extractor.ErrModelFile
)

// LibraryEnv names the environment variable that points to the ONNX
// Runtime shared library.
const LibraryEnv = extractor.LibraryEnv

// Embedding is the outcome for one image: its vector and what was read,
// or Err for a file that could not be used (the others go on).
type Embedding = extractor.Result

// ImageInfo is what decoding found: format, size after EXIF orientation.
type ImageInfo = extractor.Info

// ModelOptions configure LoadModel and PrepareModel. The zero value (or
// nil) means the default model in the default directory, its own pooling,
// all cores, batches of 8.
type ModelOptions struct {
	// Dir is the model directory; "" means model.DefaultDir.
	Dir string
	// Name is the model; "" means DefaultModel(Dir), and for Open the
	// database's own model, or NewDatabaseModel's for a new database.
	Name    string
	Pooling model.Pooling // "" means the model's default
	Threads int           // ONNX Runtime threads; 0 means all cores
	Batch   int           // images per network run; 0 means 8
	Workers int           // decoding goroutines; 0 means one per core
	// Library is the ONNX Runtime shared library; "" searches
	// $SIMSEARCH_ORT_LIB, lib/ beside the executable, then the system.
	Library string
	Getenv  func(string) string // the environment; nil means os.Getenv
	Log     io.Writer           // notices (what was built); nil discards
	// Int8Features returns the CPU's int8 instructions, which decide
	// whether a new database gets an int8 model (NewDatabaseModel) and
	// whether Engine auto runs an int8 model on oneDNN; nil reads
	// /proc/cpuinfo.
	Int8Features func() []string
	// Engine runs the trunk: "auto" (or "") takes oneDNN where libdnnl
	// loads, the model is a VGG-shaped trunk without a classifier and the
	// CPU has the instructions of its precision (int8 for an int8 model:
	// AMX-INT8 or VNNI; bf16 for a float one: AMX-BF16 or AVX512-BF16),
	// else ONNX Runtime, saying why on Log; "ort" or "onednn" names one
	// (EngineEnv in the CLI).
	Engine string
	// Precision is "auto" (or ""), "fp32", "bf16" or "int8" (an int8
	// model's) (PrecisionEnv in the CLI).
	Precision string
	// BF16Features returns the CPU's bf16 instructions for Engine auto;
	// nil reads /proc/cpuinfo.
	BF16Features func() []string
}

// Model is an installed model ready to embed images, without any
// database. ONNX Runtime is loaded on the first embedding, not before.
// Its methods are safe for concurrent use.
type Model struct {
	opts    ModelOptions
	spec    model.Spec
	pooling model.Pooling

	mu sync.Mutex // guards rt and ex
	rt *extractor.Runtime
	ex *extractor.Extractor
}

// LoadModel returns the installed model opts names. It never builds,
// downloads or writes anything: a model that is missing or not ready is
// ErrModelNotInstalled, and PrepareModel is the call that fixes that.
func LoadModel(ctx context.Context, opts *ModelOptions) (*Model, error) {
	m, err := newModel(opts)
	if err != nil {
		return nil, err
	}
	s, err := model.Load(m.opts.Dir, m.opts.Name)
	if err != nil {
		return nil, err
	}
	if why := notReady(s); why != "" {
		return nil, fmt.Errorf("model %s %s: %w", s.Name, why, ErrModelNotInstalled)
	}
	m.setSpec(s)
	return m, nil
}

// PrepareModel returns the model opts names ready to run, doing what is
// missing: a catalog model that is built offline (vgg16-random,
// vgg19-random) is built when absent or built by an older simsearch, and
// post-processing centres are computed from the embedded reference photos
// when the spec has none (this needs ONNX Runtime). The int8 model of such
// a catalog model (vgg16-random-int8, see NewDatabaseModel) is made with
// QuantizeModel when absent, which takes about a minute. A model that must be downloaded and is not
// installed is ErrModelNotInstalled: see model.Pull.
func PrepareModel(ctx context.Context, opts *ModelOptions) (*Model, error) {
	m, err := newModel(opts)
	if err != nil {
		return nil, err
	}
	dir, name, log := m.opts.Dir, m.opts.Name, m.opts.Log
	s, err := model.Load(dir, name)
	rebuild := false
	if e, ok := offlineEntry(name); err == nil && ok && stale(s, e.Spec) {
		// Rebuilding takes seconds (a minute for int8) and keeps vectors
		// and defaults consistent with what this simsearch builds.
		fmt.Fprintf(log, "%s in %s was built with older settings; building it again\n", name, dir)
		err, rebuild = fmt.Errorf("rebuild: %w", model.ErrNotInstalled), true
	}
	if base, ok := QuantizedFrom(name); ok && errors.Is(err, model.ErrNotInstalled) {
		// Like vgg16-random, its int8 model is made offline, once.
		fmt.Fprintf(log, "building %s from %s (int8, once; about a minute)\n", name, base)
		bo := m.opts
		bo.Name, bo.Pooling = base, ""
		q, qerr := QuantizeModel(ctx, &bo, &QuantizeOptions{Force: rebuild})
		switch {
		case errors.Is(qerr, ErrQuantizedExists):
			// Another process made it meanwhile.
		case qerr != nil:
			return nil, fmt.Errorf("prepare %s: %w", name, qerr)
		default:
			fmt.Fprintf(log, "%s: cosine to %s on %d reference photos: median %.3f, min %.3f\n",
				name, base, q.Agreement.Photos, q.Agreement.Median, q.Agreement.Min)
		}
		s, err = model.Load(dir, name)
	}
	if errors.Is(err, model.ErrNotInstalled) {
		e, ok := model.Lookup(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("model %s: %w (not in the catalog either)", name, ErrModelNotInstalled)
		case e.URL != "":
			return nil, fmt.Errorf("model %s: %w", name, ErrModelNotInstalled)
		}
		fmt.Fprintf(log, "building %s in %s (%s)\n", name, dir, model.RandomDescription)
		s, err = model.Pull(ctx, e, dir, &model.PullOptions{Force: true})
	}
	if err != nil {
		return nil, err
	}
	if len(s.Center) == 0 {
		rt, err := m.runtime()
		if err != nil {
			return nil, fmt.Errorf("prepare model %s: %w", name, err)
		}
		fmt.Fprintf(log, "computing %s post-processing centres from %d reference photos\n", name, len(reference.Names()))
		c, err := extractor.ComputeCentres(ctx, rt, s, referenceSources(), m.opts.Threads)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("model %s: centres: %w", name, err)
		}
		s.Center = c
		if err := model.SaveSpec(filepath.Join(dir, name+".json"), s); err != nil {
			m.Close()
			return nil, err
		}
		// Reload so the spec is exactly what later runs will see.
		if s, err = model.Load(dir, name); err != nil {
			m.Close()
			return nil, err
		}
	}
	m.setSpec(s)
	return m, nil
}

func newModel(opts *ModelOptions) (*Model, error) {
	m := &Model{}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.Log == nil {
		m.opts.Log = io.Discard
	}
	if m.opts.Getenv == nil {
		m.opts.Getenv = os.Getenv
	}
	if m.opts.Dir == "" {
		d, err := model.DefaultDir(m.opts.Getenv)
		if err != nil {
			return nil, err
		}
		m.opts.Dir = d
	}
	if m.opts.Name == "" {
		m.opts.Name = DefaultModel(m.opts.Dir)
	}
	if _, _, err := parseEngine(&m.opts); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Model) setSpec(s model.Spec) {
	m.spec = s
	m.pooling = m.opts.Pooling
	if m.pooling == "" {
		m.pooling = s.Pooling
	}
}

// notReady says why an installed spec cannot embed yet, or "".
func notReady(s model.Spec) string {
	if e, ok := offlineEntry(s.Name); ok && stale(s, e.Spec) {
		return "was built by an older simsearch"
	}
	if len(s.Center) == 0 {
		return "has no post-processing centres yet"
	}
	return ""
}

// DefaultModel returns the model used when none is named: the pretrained
// vgg16 when it is installed in dir, else vgg16-random.
func DefaultModel(dir string) string {
	if _, err := model.Load(dir, "vgg16"); err == nil {
		return "vgg16"
	}
	return "vgg16-random"
}

// Spec is the installed model's description.
func (m *Model) Spec() model.Spec { return m.spec }

// Pooling is the pooling method this Model embeds with.
func (m *Model) Pooling() model.Pooling { return m.pooling }

// Dir is the model directory the model was loaded from.
func (m *Model) Dir() string { return m.opts.Dir }

// Fingerprint identifies the vectors this Model makes (model.Spec's
// fingerprint for its pooling); a database records it.
func (m *Model) Fingerprint() string { return m.spec.Fingerprint(m.pooling) }

// Label names the model and pooling for people, as a database records it.
func (m *Model) Label() string { return modelLabel(m.spec.Name, m.pooling) }

func modelLabel(name string, p model.Pooling) string { return name + "/" + string(p) }

// Embed embeds the image files at paths and returns one Embedding per
// path, in order; a file that cannot be used has its Err set.
func (m *Model) Embed(ctx context.Context, paths []string) ([]Embedding, error) {
	out := make([]Embedding, len(paths))
	err := m.EmbedFiles(ctx, paths, func(r Embedding) error {
		out[r.Seq] = r
		return nil
	})
	return out, err
}

// EmbedFiles embeds the image files at paths, calling emit once per path
// as results come (in batch order; Embedding.Seq is the position in
// paths). It stops at the first error from emit, ctx or the network.
func (m *Model) EmbedFiles(ctx context.Context, paths []string, emit func(Embedding) error) error {
	ex, err := m.extractor()
	if err != nil {
		return err
	}
	return ex.Files(ctx, paths, emit)
}

// EmbedReader embeds one image read from r; name labels it in errors and
// in the result. Embedding.Err is set for data that is not a usable image.
func (m *Model) EmbedReader(ctx context.Context, name string, r io.Reader) (Embedding, error) {
	ex, err := m.extractor()
	if err != nil {
		return Embedding{}, err
	}
	var out Embedding
	src := extractor.Source{Path: name, Decode: func(o *extractor.DecodeOptions) (*extractor.RGB, extractor.Info, error) {
		// As ReadImage bounds a file: never hold more than the limit.
		b, err := io.ReadAll(io.LimitReader(r, extractor.DefaultMaxBytes+1))
		if err != nil {
			return nil, extractor.Info{}, fmt.Errorf("read image: %w", err)
		}
		if len(b) > extractor.DefaultMaxBytes {
			return nil, extractor.Info{}, fmt.Errorf("%w: over %d bytes", extractor.ErrFileTooLarge, int64(extractor.DefaultMaxBytes))
		}
		return extractor.DecodeBytes(b, o)
	}}
	err = ex.Sources(ctx, []extractor.Source{src}, func(r Embedding) error {
		out = r
		return nil
	})
	return out, err
}

// sources embeds what the engine's index run reads itself.
func (m *Model) sources(ctx context.Context, src []extractor.Source, emit func(Embedding) error) error {
	ex, err := m.extractor()
	if err != nil {
		return err
	}
	return ex.Sources(ctx, src, emit)
}

// Close releases the ONNX Runtime session and library.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	if m.ex != nil {
		errs = append(errs, m.ex.Close())
		m.ex = nil
	}
	if m.rt != nil {
		errs = append(errs, m.rt.Close())
		m.rt = nil
	}
	return errors.Join(errs...)
}

func (m *Model) runtime() (*extractor.Runtime, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rt == nil {
		rt, err := extractor.OpenRuntime(&extractor.RuntimeOptions{Library: m.opts.Library, Getenv: m.opts.Getenv})
		if err != nil {
			return nil, err
		}
		m.rt = rt
	}
	return m.rt, nil
}

func (m *Model) extractor() (*extractor.Extractor, error) {
	rt, err := m.runtime()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ex == nil {
		eng, prec, _ := parseEngine(&m.opts) // checked by newModel
		ex, err := extractor.New(rt, m.spec, &extractor.Options{
			Pooling: m.pooling, Threads: m.opts.Threads, Batch: m.opts.Batch, Workers: m.opts.Workers,
			GraphCache: filepath.Join(m.opts.Dir, "cache"), Log: m.opts.Log,
			Engine: eng, Precision: prec, BF16Features: m.opts.BF16Features, Int8Features: m.opts.Int8Features,
		})
		if err != nil {
			return nil, err
		}
		m.ex = ex
	}
	return m.ex, nil
}

// referenceSources are the embedded reference photos as extractor inputs.
func referenceSources() []extractor.Source {
	fsys := reference.Photos()
	names := reference.Names()
	sort.Strings(names)
	src := make([]extractor.Source, len(names))
	for i, n := range names {
		src[i] = extractor.Source{Path: "reference/" + n, Decode: func(o *extractor.DecodeOptions) (*extractor.RGB, extractor.Info, error) {
			f, err := fsys.Open(n)
			if err != nil {
				return nil, extractor.Info{}, err
			}
			defer f.Close()
			return extractor.Decode(f, o)
		}}
	}
	return src
}

// offlineEntry is the catalog entry whose settings the model called name
// must have when simsearch builds it offline: its own for vgg16-random
// and vgg19-random, its base's for their int8 models (which keep the
// base's preprocessing, pooling and threshold).
func offlineEntry(name string) (model.Entry, bool) {
	if base, ok := QuantizedFrom(name); ok {
		name = base
	}
	e, ok := model.Lookup(name)
	return e, ok && e.URL == ""
}

// stale reports whether an offline-built model's installed spec differs
// from what the catalog builds now.
func stale(installed, catalog model.Spec) bool {
	return installed.Pre != catalog.Pre || installed.Pooling != catalog.Pooling || installed.Threshold != catalog.Threshold
}

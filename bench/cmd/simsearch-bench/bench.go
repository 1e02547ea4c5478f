package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// rowIDs are the report's rows, in the order they run.
var rowIDs = []string{"extract", "engine", "index", "store", "cold", "dedup", "report", "e2e", "serve", "pg"}

// config is what the command line chose.
type config struct {
	quick      bool
	out        string
	rows       []string
	n1m        bool
	indexN     []int // -index-n: the index row's sizes instead of the defaults
	indexNFlag string
	bin        string
	work       string // generated inputs kept between runs
	python     string
	peers      string // bench/peers.py
	photos     string // testdata/photos
	noPeers    bool
	before     string   // simsearch and this harness built from an earlier commit
	int8       string   // the int8 model of the extract row; "" builds a stand-in
	args       []string // as given, for the report
}

// sizes are the data set sizes of a run: the in a full run, tiny
// ones with -quick.
type sizes struct {
	photos     []photoSize // extraction: files on disk
	batches    []int
	threads    []int
	rawImages  int // images per raw-session measurement
	pipeImages map[string]int
	decodeReps map[string]int
	conv       convShape
	indexN     []int
	queries    int
	coderMaxN  int // coder/hnsw is measured up to this size
	storeN     int
	e2eN       int
	e2eW, e2eH int
}

func sizesFor(quick, n1m bool) sizes {
	if quick {
		return sizes{
			photos:     []photoSize{{"small", 320, 240}, {"medium", 640, 480}},
			batches:    []int{1, 2},
			threads:    []int{1, 2},
			rawImages:  2,
			pipeImages: map[string]int{"small": 4, "medium": 4},
			decodeReps: map[string]int{"small": 3, "medium": 3},
			conv:       convShape{Batch: 1, Channels: 32, Side: 28},
			indexN:     []int{2000},
			queries:    100,
			coderMaxN:  2000,
			storeN:     2000,
			e2eN:       20, e2eW: 640, e2eH: 480,
		}
	}
	s := sizes{
		photos:     []photoSize{{"2MP", 1920, 1080}, {"12MP", 4000, 3000}},
		batches:    []int{1, extractor.DefaultBatch, 8},
		threads:    []int{1, 2},
		rawImages:  32,
		pipeImages: map[string]int{"2MP": 64, "12MP": 32},
		decodeReps: map[string]int{"2MP": 10, "12MP": 5},
		conv:       convShape{Batch: 8, Channels: 256, Side: 56},
		indexN:     []int{100_000},
		queries:    1000,
		coderMaxN:  100_000,
		storeN:     100_000,
		e2eN:       1000, e2eW: 1920, e2eH: 1280,
	}
	if n1m {
		s.indexN = append(s.indexN, 1_000_000)
	}
	return s
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	c := config{args: args}
	fs := flag.NewFlagSet("simsearch-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.quick, "quick", false, "tiny sizes: every row in well under 2 minutes (what make test runs)")
	fs.StringVar(&c.out, "out", "bench/results", "write `DIR`/<date>-<host>.md and .json there")
	rows := fs.String("rows", strings.Join(rowIDs, ","), "comma-separated `ROWS` to run: "+strings.Join(rowIDs, ","))
	fs.BoolVar(&c.n1m, "n1m", false, "add the 1,000,000-vector index row (slow: its exact answers alone take minutes)")
	fs.StringVar(&c.bin, "bin", "bin/simsearch", "the simsearch `BINARY` for the store and e2e rows (make builds it)")
	fs.StringVar(&c.work, "work", ".cache/bench", "`DIR` for generated photos and models, kept between runs")
	fs.StringVar(&c.python, "python", "python3", "Python for the hnswlib and faiss peers")
	fs.StringVar(&c.peers, "peers", "bench/peers.py", "the peers `SCRIPT`")
	fs.StringVar(&c.photos, "photos", "testdata/photos", "sample photos with variants.csv, for dedup precision and recall")
	fs.BoolVar(&c.noPeers, "no-peers", false, "skip hnswlib, faiss and coder/hnsw even when installed")
	indexN := fs.String("index-n", "", "the index row's `SIZES` (comma-separated vector counts) instead of 100,000 (and -n1m's 1,000,000)")
	fs.StringVar(&c.before, "before", "", "`DIR` with simsearch and simsearch-bench built from an earlier commit: the cold query's \"before\" (make bench-before)")
	fs.StringVar(&c.int8, "int8", "", "the int8 `MODEL` of the extract row, installed in -work's models (e.g. what simsearch model quantize writes); empty: a stand-in quantized here with constant scales (int8 speed, meaningless vectors)")
	probe := fs.String("probe", "", "internal: run one measurement in this fresh process and print JSON")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *probe != "" {
		return c, probeRequest{name: *probe, args: fs.Args()}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, f := range strings.Split(*indexN, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 100 {
			return c, fmt.Errorf("-index-n %q: want vector counts of at least 100", f)
		}
		c.indexN = append(c.indexN, n)
	}
	c.indexNFlag = *indexN
	for _, r := range strings.Split(*rows, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(rowIDs, r) {
			return c, fmt.Errorf("unknown row %q: want some of %s", r, strings.Join(rowIDs, ","))
		}
		if !slices.Contains(c.rows, r) {
			c.rows = append(c.rows, r)
		}
	}
	slices.SortFunc(c.rows, func(a, b string) int { return slices.Index(rowIDs, a) - slices.Index(rowIDs, b) })
	return c, nil
}

// probeRequest asks this process to run one probe instead of the bench.
type probeRequest struct {
	name string
	args []string
}

func (p probeRequest) Error() string { return "probe " + p.name }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	var probe probeRequest
	switch {
	case errors.As(err, &probe):
		return runProbe(ctx, probe, stdout)
	case errors.Is(err, flag.ErrHelp):
		return nil
	case err != nil:
		return err
	}
	// Run from the checkout without make: use its lib/ (a binary built
	// outside bin/, or by go run in the build cache, cannot find it
	// beside itself). Set in the environment, so the CLI and probes see
	// it too.
	if os.Getenv(extractor.LibraryEnv) == "" {
		if p, err := filepath.Abs(filepath.Join("lib", "libonnxruntime.so.1")); err == nil {
			if _, err := os.Stat(p); err == nil {
				os.Setenv(extractor.LibraryEnv, p)
			}
		}
	}
	b := &bench{cfg: cfg, sz: sizesFor(cfg.quick, cfg.n1m), log: stderr}
	if len(cfg.indexN) > 0 {
		b.sz.indexN = cfg.indexN
	}
	defer b.close()
	return b.run(ctx, stdout)
}

// bench holds what the rows share: the runtime, the model, scratch space
// and the 100k-item database that store and dedup both use.
type bench struct {
	cfg config
	sz  sizes
	log io.Writer

	tmp       string
	rt        *extractor.Runtime
	modelsDir string
	spec      model.Spec
	big       *bigDB
	// native is the compiled hnswlib peer and its version, or nativeWhy
	// says why there is none (index.go).
	native, nativeVer, nativeWhy string
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", a...)
}

func (b *bench) close() {
	if b.rt != nil {
		b.rt.Close()
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// command is the invocation that reproduces one row.
func (b *bench) command(row string) string {
	c := "bin/simsearch-bench -rows " + row
	if b.cfg.quick {
		c += " -quick"
	}
	if row == "index" && len(b.cfg.indexN) > 0 {
		c += " -index-n " + b.cfg.indexNFlag
	} else if row == "index" && b.cfg.n1m {
		c += " -n1m"
	}
	return c
}

// runtime opens ONNX Runtime once.
func (b *bench) runtime() (*extractor.Runtime, error) {
	if b.rt == nil {
		rt, err := extractor.OpenRuntime(nil)
		if err != nil {
			return nil, err
		}
		b.rt = rt
	}
	return b.rt, nil
}

// model builds vgg16-random with its centres in the work directory once.
func (b *bench) model(ctx context.Context) (model.Spec, string, error) {
	if b.modelsDir != "" {
		return b.spec, b.modelsDir, nil
	}
	// Kept between runs, quick ones included: building the model and its
	// centres takes longer than a quick run's measurements.
	dir, err := filepath.Abs(filepath.Join(b.cfg.work, "models"))
	if err != nil {
		return model.Spec{}, "", err
	}
	b.logf("preparing vgg16-random in %s", dir)
	m, err := simsearch.PrepareModel(ctx, &simsearch.ModelOptions{Dir: dir, Name: "vgg16-random", Log: b.log})
	if err != nil {
		return model.Spec{}, "", err
	}
	spec := m.Spec()
	if err := m.Close(); err != nil {
		return model.Spec{}, "", err
	}
	b.spec, b.modelsDir = spec, dir
	return spec, dir, nil
}

// workDir is where generated inputs are cached: the -work directory, or
// the scratch directory in quick runs so that make test leaves nothing.
func (b *bench) workDir() string {
	if b.cfg.quick {
		return b.tmp
	}
	return b.cfg.work
}

// rowFunc measures one row. Targets are the pass/fail goals.
type rowFunc func(ctx context.Context, b *bench) (Section, error)

func (b *bench) run(ctx context.Context, stdout io.Writer) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "simsearch-bench-"); err != nil {
		return err
	}
	r := &Report{
		Quick:   b.cfg.quick,
		Started: time.Now(),
		Command: "bin/simsearch-bench " + strings.Join(b.cfg.args, " "),
		Machine: readMachine(),
	}
	r.Command = strings.TrimSpace(r.Command)
	if rt, err := b.runtime(); err == nil {
		r.Machine.ORTVersion = rt.Version()
		r.Machine.ORTLibrary = rt.Library()
	} else {
		r.Machine.ORTVersion = "unavailable: " + err.Error()
	}
	b.logf("machine: %s, %d cores, load %s", r.Machine.CPUModel, r.Machine.Cores, r.Machine.LoadStart)
	funcs := map[string]rowFunc{
		"extract": extractRow,
		"engine":  engineRow,
		"index":   indexRow,
		"store":   storeRow,
		"cold":    coldRow,
		"dedup":   dedupRow,
		"report":  reportRow,
		"e2e":     e2eRow,
		"serve":   serveRow,
		"pg":      pgRow,
	}
	var failed []string
	for _, id := range b.cfg.rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.logf("== %s", id)
		start := time.Now()
		s, err := funcs[id](ctx, b)
		s.ID, s.Command = id, b.command(id)
		if s.Title == "" {
			s.Title = id
		}
		if err != nil {
			s.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s: %v", id, err))
			b.logf("%s failed: %v", id, err)
		}
		s.Seconds = time.Since(start).Seconds()
		r.Sections = append(r.Sections, s)
	}
	r.Machine.LoadEnd = loadAverage()
	r.Elapsed = time.Since(r.Started).Seconds()
	md := r.Markdown()
	if _, err := io.WriteString(stdout, md); err != nil {
		return err
	}
	paths, err := r.Write(b.cfg.out)
	if err != nil {
		return err
	}
	b.logf("wrote %s in %.0f s", strings.Join(paths, " and "), r.Elapsed)
	if len(failed) > 0 {
		return fmt.Errorf("%d row(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// gcHeap collects garbage twice and returns the live heap.
func gcHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// bigDB is the database of the store and dedup rows: n items with random
// 512-d vectors in 200 clusters, every tenth a near copy of the one before,
// stored under
// vgg16-random's fingerprint so the CLI and the Engine accept it, with a
// current index snapshot.
type bigDB struct {
	Path      string  `json:"-"`
	N         int     `json:"n"`
	PutS      float64 `json:"put_s"`
	RecordsPS float64 `json:"records_per_s"`
	FileBytes int64   `json:"file_bytes"`
	DiskBytes int64   `json:"allocated_bytes"`
	RebuildS  float64 `json:"engine_first_open_s"` // HNSW built from the stored vectors, snapshot written
	Planted   int     `json:"planted_pairs"`
}

const putBatch = 1000

// bigCentres is the number of clusters of bigDB's vectors.
const bigCentres = 200

// itemPath names item i; near copies sit next to their originals.
func itemPath(i int) string { return fmt.Sprintf("/photos/%03d/IMG_%06d.jpg", i/1000, i) }

// isCopy says whether item i is a planted near copy of item i-1.
func isCopy(i int) bool { return i%10 == 1 }

// clusters makes vectors shaped like photo embeddings, which cluster by
// subject. Uniform vectors, which the store row used before, are the
// case where nearest neighbours mean nothing: the index tuned itself to
// ef 4096 on them, and every query and dedup paid for it. Around
// bigCentres centres with noise as long as the centre, the nearest other
// item (not a planted copy) lies at cosine about 0.61, under
// vgg16-random's duplicate threshold 0.72.
type clusters struct {
	rng     *rand.Rand
	centres [][]float32
	sigma   float64
	prev    []float32
}

func newClusters(rng *rand.Rand) *clusters {
	c := &clusters{rng: rng, centres: make([][]float32, bigCentres), sigma: 1 / math.Sqrt(indexDims)}
	for i := range c.centres {
		c.centres[i] = make([]float32, indexDims)
		for j := range c.centres[i] {
			c.centres[i][j] = float32(rng.NormFloat64())
		}
		index.Normalize(c.centres[i])
	}
	return c
}

// next is item i's unit vector: where isCopy(i), a near copy of the one
// before (cosine 0.88..0.99), else a point near a random centre.
func (c *clusters) next(i int) []float32 {
	v := make([]float32, indexDims)
	if isCopy(i) && c.prev != nil {
		s := 0.005 + 0.02*c.rng.Float64()
		for j := range v {
			v[j] = c.prev[j] + float32(c.rng.NormFloat64()*s)
		}
	} else {
		ctr := c.centres[c.rng.IntN(bigCentres)]
		for j := range v {
			v[j] = ctr[j] + float32(c.rng.NormFloat64()*c.sigma)
		}
	}
	index.Normalize(v)
	c.prev = v
	return v
}

func (b *bench) bigDB(ctx context.Context) (*bigDB, error) {
	if b.big != nil {
		return b.big, nil
	}
	_, dir, err := b.model(ctx)
	if err != nil {
		return nil, err
	}
	d := &bigDB{Path: filepath.Join(b.tmp, "big.db"), N: b.sz.storeN}
	b.logf("storing %d records in %s", d.N, d.Path)
	m, err := simsearch.LoadModel(ctx, &simsearch.ModelOptions{Dir: dir, Name: "vgg16-random"})
	if err != nil {
		return nil, err
	}
	db, err := store.Open(d.Path, &store.Options{Fingerprint: m.Fingerprint(), ModelName: m.Label(), Dims: indexDims})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	cl := newClusters(rng)
	recs := make([]store.Record, 0, putBatch)
	var putTime time.Duration
	for i := 0; i < d.N; i++ {
		v := cl.next(i)
		if isCopy(i) {
			d.Planted++
		}
		var h [32]byte
		for j := range 4 {
			u := rng.Uint64()
			for k := range 8 {
				h[8*j+k] = byte(u >> (8 * k))
			}
		}
		recs = append(recs, store.Record{
			Item:   store.Item{Path: itemPath(i), Size: 2_000_000 + rng.Int64N(4_000_000), ModTime: 1.7e18 + rng.Int64N(1e17), Hash: h, Width: 4000, Height: 3000, Format: "jpeg"},
			Vector: v,
		})
		if len(recs) == putBatch || i == d.N-1 {
			t := time.Now()
			if _, err := db.Put(recs); err != nil {
				db.Close()
				return nil, err
			}
			putTime += time.Since(t)
			recs = recs[:0]
		}
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	d.PutS = putTime.Seconds()
	d.RecordsPS = float64(d.N) / d.PutS
	if fi, err := os.Stat(d.Path); err == nil {
		d.FileBytes = fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.DiskBytes = st.Blocks * 512
		}
	}
	b.logf("stored %d records: %.0f records/s; building the index snapshot", d.N, d.RecordsPS)
	t := time.Now()
	e, err := simsearch.Open(ctx, &simsearch.Options{DB: d.Path, Model: m})
	if err != nil {
		return nil, err
	}
	d.RebuildS = time.Since(t).Seconds()
	if err := e.Close(); err != nil {
		return nil, err
	}
	if db, err = store.Open(d.Path, &store.Options{ReadOnly: true}); err != nil {
		return nil, err
	}
	meta, err := db.Meta()
	db.Close()
	if err != nil {
		return nil, err
	}
	if !meta.HasIndex || meta.IndexVersion != meta.ItemsVersion {
		return nil, fmt.Errorf("no current index snapshot after the first open (has %t, version %d of %d)", meta.HasIndex, meta.IndexVersion, meta.ItemsVersion)
	}
	b.big = d
	return d, nil
}

// queryParts is what the query-parts probe measures in a fresh process.
type queryParts struct {
	RuntimeMS   float64 `json:"runtime_ms"`    // load libonnxruntime, create the environment
	SessionMS   float64 `json:"session_ms"`    // read the spec, open the model (graph optimisation)
	ExtractMS   float64 `json:"extract_ms"`    // one image: read, decode, preprocess, network, pool
	IndexLoadMS float64 `json:"index_load_ms"` // open the database read-only, load the HNSW snapshot
	SearchMS    float64 `json:"search_ms"`     // k=10 at the default ef, items looked up
}

type storeRaw struct {
	DB          *bigDB     `json:"db"`
	OpenROMS    float64    `json:"open_readonly_ms"`
	OpenRWMS    float64    `json:"open_readwrite_ms"`
	QueryImage  photoSize  `json:"query_image"`
	StartMS     float64    `json:"process_start_ms"` // simsearch --help
	CLIQueryMS  []float64  `json:"cli_query_ms"`
	CLIQueryRSS int64      `json:"cli_query_max_rss_bytes"`
	Parts       queryParts `json:"parts_median"`
	PartsRuns   int        `json:"parts_runs"`
	CLICommand  string     `json:"cli_command"`
	CLIQueryMed float64    `json:"cli_query_median_ms"`
}

func storeRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "3. Store and a cold-process query"}
	raw := &storeRaw{}
	s.Raw = raw
	d, err := b.bigDB(ctx)
	if err != nil {
		return s, err
	}
	raw.DB = d
	spec, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	fp := spec.Fingerprint(spec.Pooling)
	for _, ro := range []bool{true, false} {
		var times []float64
		for range 5 {
			t := time.Now()
			db, err := store.Open(d.Path, &store.Options{ReadOnly: ro, Fingerprint: fp, ModelName: spec.Name, Dims: spec.Channels})
			if err != nil {
				return s, err
			}
			times = append(times, msSince(t))
			db.Close()
		}
		if ro {
			raw.OpenROMS = median(times)
		} else {
			raw.OpenRWMS = median(times)
		}
	}

	raw.QueryImage = photoSize{"2MP", 1920, 1080}
	if b.cfg.quick {
		raw.QueryImage = photoSize{"small", 320, 240}
	}
	img, err := photoDir(b.workDir(), raw.QueryImage, 1, 900_000)
	if err != nil {
		return s, err
	}
	bin, err := filepath.Abs(b.cfg.bin)
	if err != nil {
		return s, err
	}
	if _, err := os.Stat(bin); err != nil {
		return s, fmt.Errorf("%w (run make first, or pass -bin)", err)
	}
	var starts []float64
	for range 5 {
		r, err := runTimed(ctx, bin, "--help")
		if err != nil {
			return s, err
		}
		starts = append(starts, r.ms)
	}
	raw.StartMS = median(starts)
	args := []string{"--db", d.Path, "--models-dir", dir, "query", img[0], "--format", "json"}
	raw.CLICommand = fmt.Sprintf("%s --db DB --models-dir MODELS query %s --format json", b.cfg.bin, filepath.Base(img[0]))
	runs := 3
	for range runs {
		r, err := runTimed(ctx, bin, args...)
		if err != nil {
			return s, err
		}
		raw.CLIQueryMS = append(raw.CLIQueryMS, r.ms)
		raw.CLIQueryRSS = max(raw.CLIQueryRSS, r.maxRSS)
	}
	raw.CLIQueryMed = median(append([]float64(nil), raw.CLIQueryMS...))

	self, err := os.Executable()
	if err != nil {
		return s, err
	}
	var parts []queryParts
	for range runs {
		cmd := exec.CommandContext(ctx, self, "-probe", "query-parts", d.Path, dir, img[0])
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, b.log
		if err := cmd.Run(); err != nil {
			return s, fmt.Errorf("query-parts probe: %w", err)
		}
		var p queryParts
		if err := json.Unmarshal(out.Bytes(), &p); err != nil {
			return s, fmt.Errorf("query-parts probe: %w", err)
		}
		parts = append(parts, p)
	}
	raw.PartsRuns = len(parts)
	pick := func(f func(queryParts) float64) float64 {
		var v []float64
		for _, p := range parts {
			v = append(v, f(p))
		}
		return median(v)
	}
	raw.Parts = queryParts{
		RuntimeMS:   pick(func(p queryParts) float64 { return p.RuntimeMS }),
		SessionMS:   pick(func(p queryParts) float64 { return p.SessionMS }),
		ExtractMS:   pick(func(p queryParts) float64 { return p.ExtractMS }),
		IndexLoadMS: pick(func(p queryParts) float64 { return p.IndexLoadMS }),
		SearchMS:    pick(func(p queryParts) float64 { return p.SearchMS }),
	}
	storeTables(&s, raw)
	return s, nil
}

func storeTables(s *Section, raw *storeRaw) {
	d := raw.DB
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("bbolt store, %s items (512-d vectors, plausible paths), written in batches of %s through the store API.", num(float64(d.N)), num(putBatch)),
		Header:  []string{"measure", "value"},
		Rows: [][]string{
			{"records written per second", num(d.RecordsPS)},
			{"bytes on disk per item (file length / allocated)", fmt.Sprintf("%s / %s", num(float64(d.FileBytes)/float64(d.N)), num(float64(d.DiskBytes)/float64(d.N)))},
			{"open, read-only (query) / read-write with model check", ms(raw.OpenROMS) + " / " + ms(raw.OpenRWMS)},
			{"first Engine open: HNSW built from the stored vectors, snapshot saved", seconds(d.RebuildS)},
		},
	})
	p := raw.Parts
	sum := raw.StartMS + p.RuntimeMS + p.SessionMS + p.ExtractMS + p.IndexLoadMS + p.SearchMS
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("`simsearch query` as a fresh process on that database with a %s (%d×%d) JPEG that is not in it, `--format json`: the whole command (median of %d) and its parts, each timed in a fresh process (median of %d).", raw.QueryImage.Name, raw.QueryImage.W, raw.QueryImage.H, len(raw.CLIQueryMS), raw.PartsRuns),
		Header:  []string{"part", "time"},
		Rows: [][]string{
			{"process start (`simsearch --help`)", ms(raw.StartMS)},
			{"model load: ONNX Runtime library and environment", ms(p.RuntimeMS)},
			{"model load: session (graph optimisation)", ms(p.SessionMS)},
			{"extraction of the query image", ms(p.ExtractMS)},
			{"index load: open the database, read the HNSW snapshot", ms(p.IndexLoadMS)},
			{"search (k=10, default ef) and item lookups", ms(p.SearchMS)},
			{"sum of the parts", ms(sum)},
			{fmt.Sprintf("**whole command** (peak RSS %s)", mib(float64(raw.CLIQueryRSS))), "**" + ms(raw.CLIQueryMed) + "**"},
		},
	})
}

type timedRun struct {
	ms     float64
	maxRSS int64
	stdout []byte
	stderr []byte
}

// runTimed runs bin with args and returns its wall time and peak RSS; a
// non-zero exit is an error that carries its stderr.
//
// The peak is the child's VmHWM, sampled every 5 ms while it runs, not
// the Rusage Maxrss that Wait reports: Go starts children with
// CLONE_VM, and Linux carries the high-water mark of the memory a
// process had before execve into its Maxrss, so every child would report
// at least this (large) benchmark process's peak.
func runTimed(ctx context.Context, bin string, args ...string) (timedRun, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t := time.Now()
	if err := cmd.Start(); err != nil {
		return timedRun{}, err
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var hwm int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(status); err == nil {
				hwm = max(hwm, parseVmHWM(string(b)))
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	r := timedRun{ms: msSince(t), stdout: out.Bytes(), stderr: errb.Bytes(), maxRSS: <-peak}
	if err != nil {
		return r, fmt.Errorf("%s %v: %w: %s", filepath.Base(bin), args, err, bytes.TrimSpace(errb.Bytes()))
	}
	return r, nil
}

// parseVmHWM returns the VmHWM line of /proc/PID/status in bytes.
func parseVmHWM(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// runProbe runs one measurement that needs a fresh process and prints its
// figures as JSON.
func runProbe(ctx context.Context, p probeRequest, stdout io.Writer) error {
	switch p.name {
	case "query-parts":
		if len(p.args) != 3 {
			return fmt.Errorf("probe query-parts wants DB MODELS-DIR IMAGE")
		}
		q, err := probeQueryParts(ctx, p.args[0], p.args[1], p.args[2])
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(q)
	case "index-parts":
		if len(p.args) != 2 {
			return fmt.Errorf("probe index-parts wants DB MODELS-DIR")
		}
		q, err := probeIndexParts(p.args[0], p.args[1])
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(q)
	case "engine-parts":
		if len(p.args) != 3 {
			return fmt.Errorf("probe engine-parts wants DB MODELS-DIR IMAGE")
		}
		q, err := probeEngineParts(ctx, p.args[0], p.args[1], p.args[2])
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(q)
	case "hnsw-load":
		if len(p.args) != 1 {
			return fmt.Errorf("probe hnsw-load wants FILE")
		}
		t := time.Now()
		f, err := os.Open(p.args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		if err := index.NewHNSW(indexDims, nil).Load(f); err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(map[string]float64{"load_ms": msSince(t)})
	}
	return fmt.Errorf("unknown probe %q", p.name)
}

// probeQueryParts does what simsearch query does for an image that is not
// in the database, one timed step at a time.
func probeQueryParts(ctx context.Context, dbPath, modelsDir, image string) (queryParts, error) {
	var q queryParts
	t := time.Now()
	rt, err := extractor.OpenRuntime(nil)
	if err != nil {
		return q, err
	}
	defer rt.Close()
	q.RuntimeMS = msSince(t)

	t = time.Now()
	spec, err := model.Load(modelsDir, "vgg16-random")
	if err != nil {
		return q, err
	}
	ex, err := extractor.New(rt, spec, nil)
	if err != nil {
		return q, err
	}
	defer ex.Close()
	q.SessionMS = msSince(t)

	t = time.Now()
	var vec []float32
	err = ex.Files(ctx, []string{image}, func(r extractor.Result) error {
		vec = r.Vector
		return r.Err
	})
	if err != nil {
		return q, err
	}
	q.ExtractMS = msSince(t)

	t = time.Now()
	db, err := store.Open(dbPath, &store.Options{ReadOnly: true, Fingerprint: spec.Fingerprint(spec.Pooling), Dims: spec.Channels})
	if err != nil {
		return q, err
	}
	defer db.Close()
	h := index.NewHNSW(spec.Channels, nil)
	// As the engine does: the mapped index file when it is current, else
	// the snapshot in the database.
	mapped, err := db.LoadIndexFile(func(f *os.File, off int64) error { return h.LoadFile(f, off) })
	if err != nil {
		return q, err
	}
	if !mapped {
		_, current, err := db.LoadIndex(func(r io.Reader) error { return h.Load(r) })
		if err != nil {
			return q, err
		}
		if !current {
			return q, fmt.Errorf("index snapshot of %s is not current", dbPath)
		}
	}
	q.IndexLoadMS = msSince(t)

	t = time.Now()
	hits, err := h.Search(vec, 10, 0)
	if err != nil {
		return q, err
	}
	for _, hit := range hits {
		if _, _, err := db.Item(hit.ID); err != nil {
			return q, err
		}
	}
	q.SearchMS = msSince(t)
	return q, nil
}

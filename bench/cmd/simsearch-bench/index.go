package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

const (
	indexDims = 512
	indexK    = 10
	indexSeed = 42 // as index/bench_test.go
	// peerLatencyTarget: our HNSW should reach a peer's recall at no more
	// than this multiple of its latency.
	peerLatencyTarget = 1.5
	// recallSlack is how far below a peer's recall@10 ours may be and
	// still count as equal: 10 neighbours in 10,000 at 1,000 queries.
	recallSlack = 0.001
)

var indexEfs = []int{16, 32, 64, 128, 256}

// searcher is what the row needs of an index.
type searcher interface {
	Search(q []float32, k, ef int) ([]index.Hit, error)
}

// annImpl is one index implementation under test.
type annImpl struct {
	name  string
	efs   []int // nil: exact, ef ignored
	note  string
	build func(base [][]float32) (searcher, error)
	save  func(s searcher, w io.Writer) error
	load  func(r io.Reader) (searcher, error)
	// tune, if set, lets the index choose its own ef (HNSW.Tune), which
	// is then measured as the "auto" row.
	tune func(s searcher) index.Tuning
}

type efFigure struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	// Batch1MS is the mean per query of one batch call on one thread
	// (peers only: it leaves out Python's per-call overhead).
	Batch1MS float64 `json:"batch1_mean_ms,omitempty"`
	QPS      float64 `json:"qps"`
}

type annFigure struct {
	Impl      string  `json:"impl"`
	Version   string  `json:"version,omitempty"`
	N         int     `json:"n"`
	BuildS    float64 `json:"build_s"`
	VectorsPS float64 `json:"vectors_per_s"`
	MemBytes  float64 `json:"memory_bytes"`
	SaveBytes float64 `json:"save_bytes"`
	LoadS     float64 `json:"load_s"`
	// LoadFreshS is the load from the file in a fresh process (median of
	// three), as simsearch query starts; ours only.
	LoadFreshS float64    `json:"load_fresh_process_s,omitempty"`
	Efs        []efFigure `json:"efs"`
	// Tuning is what HNSW.Tune chose, TuneS what it took, Auto the
	// queries at the chosen ef (ours only).
	Tuning  *index.Tuning `json:"tuning,omitempty"`
	TuneS   float64       `json:"tune_s,omitempty"`
	Auto    *efFigure     `json:"auto,omitempty"`
	Note    string        `json:"note,omitempty"`
	Skipped string        `json:"skipped,omitempty"`
}

type peerCompare struct {
	Peer      string  `json:"peer"`
	N         int     `json:"n"`
	Ef        int     `json:"ef"`
	Recall    float64 `json:"peer_recall"`
	PeerMS    float64 `json:"peer_ms"`
	OursMS    float64 `json:"ours_ms"` // at the peer's recall, interpolated; 0 when not reached
	OursTop   float64 `json:"ours_best_recall"`
	Ratio     float64 `json:"ratio"`
	Reached   bool    `json:"reached"`
	WithinTgt bool    `json:"within_target"`
}

type indexRaw struct {
	Queries  int           `json:"queries"`
	Seed     uint64        `json:"seed"`
	Figures  []annFigure   `json:"figures"`
	Compare  []peerCompare `json:"compare"`
	TruthS   []float64     `json:"truth_s"`
	PeerNote string        `json:"peer_note,omitempty"`
}

func ourImpls() []annImpl {
	flat := annImpl{
		name: "Flat (exact)",
		note: "exact scan, split over the cores inside each query",
		build: func(base [][]float32) (searcher, error) {
			f := index.NewFlat(indexDims)
			for i, v := range base {
				if err := f.Add(uint64(i), v); err != nil {
					return nil, err
				}
			}
			return f, nil
		},
		save: func(s searcher, w io.Writer) error { return s.(*index.Flat).Save(w) },
		load: func(r io.Reader) (searcher, error) {
			f := index.NewFlat(indexDims)
			return f, f.Load(r)
		},
	}
	return []annImpl{flat, hnswImpl()}
}

func hnswImpl() annImpl {
	return annImpl{
		name: "simsearch HNSW",
		efs:  indexEfs,
		note: fmt.Sprintf("M=%d, efConstruction=%d, AddBatch on all cores", index.DefaultM, index.DefaultEfConstruction),
		build: func(base [][]float32) (searcher, error) {
			h := index.NewHNSW(indexDims, nil)
			ids := make([]uint64, len(base))
			for i := range ids {
				ids[i] = uint64(i)
			}
			return h, h.AddBatch(ids, base)
		},
		save: func(s searcher, w io.Writer) error { return s.(*index.HNSW).Save(w) },
		load: func(r io.Reader) (searcher, error) {
			h := index.NewHNSW(indexDims, nil)
			return h, h.Load(r)
		},
		tune: func(s searcher) index.Tuning { return s.(*index.HNSW).Tune(1) },
	}
}

func indexRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "2. Index (clustered 512-d vectors)"}
	raw := &indexRaw{Queries: b.sz.queries, Seed: indexSeed}
	s.Raw = raw
	for _, n := range b.sz.indexN {
		if err := indexSize(ctx, b, raw, n); err != nil {
			indexTables(&s, raw)
			return s, err
		}
	}
	indexTables(&s, raw)
	return s, nil
}

func indexSize(ctx context.Context, b *bench, raw *indexRaw, n int) error {
	q := b.sz.queries
	b.logf("generating %d clustered vectors (seed %d) and the exact top %d of %d queries", n, indexSeed, indexK, q)
	data := indextest.Clustered(n+q, indexDims, indexSeed)
	base, queries := data[:n], data[n:]
	t := time.Now()
	truth := indextest.TopK(base, queries, indexK)
	raw.TruthS = append(raw.TruthS, time.Since(t).Seconds())
	for _, im := range ourImpls() {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := measureANN(b, im, base, queries, truth)
		if err != nil {
			return fmt.Errorf("%s: %w", im.name, err)
		}
		raw.Figures = append(raw.Figures, f)
	}
	if b.cfg.noPeers {
		raw.PeerNote = "skipped: -no-peers"
		return nil
	}
	coder := coderImpl()
	cn := min(n, b.sz.coderMaxN)
	cbase, ctruth := base, truth
	if cn < n {
		cbase = base[:cn]
		ctruth = indextest.TopK(cbase, queries, indexK)
		// Ours at the same size, for a like-for-like row.
		f, err := measureANN(b, hnswImpl(), cbase, queries, ctruth)
		if err != nil {
			return err
		}
		raw.Figures = append(raw.Figures, f)
	}
	f, err := measureANN(b, coder, cbase, queries, ctruth)
	if err != nil {
		return fmt.Errorf("%s: %w", coder.name, err)
	}
	raw.Figures = append(raw.Figures, f)
	peers, err := runPeers(ctx, b, base, queries, truth)
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	var ours annFigure
	for _, f := range raw.Figures {
		if f.Impl == hnswImpl().name && f.N == n {
			ours = f
		}
	}
	for _, name := range []string{"hnswlib", nativePeer, "faiss"} {
		p, ok := peers[name]
		if !ok {
			continue
		}
		p.Impl, p.N = name+" HNSW", n
		if p.Skipped == "" {
			p.Note = fmt.Sprintf("M=%d, efConstruction=%d, %s", index.DefaultM, index.DefaultEfConstruction, peerNote(name))
			raw.Compare = append(raw.Compare, comparePeer(name, n, ours, p)...)
		}
		raw.Figures = append(raw.Figures, p)
	}
	return nil
}

func peerNote(name string) string {
	switch name {
	case "faiss":
		return "IndexHNSWFlat, METRIC_INNER_PRODUCT, OpenMP threads as ours"
	case nativePeer:
		return "InnerProductSpace, the C++ headers compiled for this CPU (the Python build is generic x86-64), addPoint on 2 threads; its latency is searchKnn alone, with no call overhead"
	}
	return "space ip, add_items on all cores"
}

// measureANN builds im over base and measures it: build time, heap growth,
// saved size, load time, then per ef recall@10, single-query latency and
// queries per second on all cores.
func measureANN(b *bench, im annImpl, base, queries [][]float32, truth [][]int) (annFigure, error) {
	f := annFigure{Impl: im.name, N: len(base), Note: im.note}
	b.logf("%s: building over %d vectors", im.name, len(base))
	h0 := gcHeap()
	t := time.Now()
	idx, err := im.build(base)
	if err != nil {
		return f, err
	}
	f.BuildS = time.Since(t).Seconds()
	f.VectorsPS = float64(len(base)) / f.BuildS
	f.MemBytes = float64(int64(gcHeap()) - int64(h0))
	b.logf("%s: built in %.1f s (%.0f vectors/s), %s", im.name, f.BuildS, f.VectorsPS, mib(f.MemBytes))

	path := filepath.Join(b.tmp, "index.bin")
	fh, err := os.Create(path)
	if err != nil {
		return f, err
	}
	cw := &countWriter{w: fh}
	err = im.save(idx, cw)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return f, fmt.Errorf("save: %w", err)
	}
	f.SaveBytes = float64(cw.n)
	// Loaded from the page cache, as a program start soon after a save.
	t = time.Now()
	fr, err := os.Open(path)
	if err != nil {
		return f, err
	}
	_, err = im.load(fr)
	fr.Close()
	if err != nil {
		return f, fmt.Errorf("load: %w", err)
	}
	f.LoadS = time.Since(t).Seconds()
	if im.name == hnswImpl().name {
		if f.LoadFreshS, err = freshLoad(path); err != nil {
			return f, err
		}
	}
	os.Remove(path)

	efs := im.efs
	if efs == nil {
		efs = []int{0}
	}
	for _, ef := range efs {
		e, err := measureQueries(idx, queries, truth, ef)
		if err != nil {
			return f, err
		}
		b.logf("%s ef=%d: recall@10 %.4f, p50 %.3f ms, p99 %.3f ms, %.0f q/s", im.name, ef, e.Recall, e.P50MS, e.P99MS, e.QPS)
		f.Efs = append(f.Efs, e)
	}
	if im.tune != nil {
		t := time.Now()
		tu := im.tune(idx)
		f.TuneS = time.Since(t).Seconds()
		f.Tuning = &tu
		b.logf("%s: tuned in %.2f s: ef %d, recall@10 %.4f on its sample of stored vectors", im.name, f.TuneS, tu.Ef, tu.Recall)
		e, err := measureQueries(idx, queries, truth, 0) // 0: the tuned ef
		if err != nil {
			return f, err
		}
		e.Ef = tu.Ef
		b.logf("%s auto ef=%d: recall@10 %.4f, p50 %.3f ms, p99 %.3f ms, %.0f q/s", im.name, tu.Ef, e.Recall, e.P50MS, e.P99MS, e.QPS)
		f.Auto = &e
	}
	return f, nil
}

func measureQueries(idx searcher, queries [][]float32, truth [][]int, ef int) (efFigure, error) {
	e := efFigure{Ef: ef}
	if _, err := idx.Search(queries[0], indexK, ef); err != nil { // warm up
		return e, err
	}
	lat := make([]float64, len(queries))
	var sum float64
	for qi, q := range queries {
		t := time.Now()
		hits, err := idx.Search(q, indexK, ef)
		lat[qi] = float64(time.Since(t).Nanoseconds()) / 1e6
		if err != nil {
			return e, err
		}
		got := make([]int, len(hits))
		for i, h := range hits {
			got[i] = int(h.ID)
		}
		sum += indextest.Recall(truth[qi], got)
	}
	e.Recall = sum / float64(len(queries))
	e.P50MS, e.P99MS = percentile(lat, 0.5), percentile(lat, 0.99)
	// Queries per second with two goroutines (the machine's cores).
	const workers = 2
	var wg sync.WaitGroup
	t := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(queries); i += workers {
				idx.Search(queries[i], indexK, ef)
			}
		})
	}
	wg.Wait()
	e.QPS = float64(len(queries)) / time.Since(t).Seconds()
	return e, nil
}

// freshLoad times HNSW.Load from path in a new process of this program.
func freshLoad(path string) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	var times []float64
	for range 3 {
		out, err := exec.Command(self, "-probe", "hnsw-load", path).Output()
		if err != nil {
			return 0, fmt.Errorf("hnsw-load probe: %w", err)
		}
		var r struct {
			LoadMS float64 `json:"load_ms"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return 0, fmt.Errorf("hnsw-load probe: %w", err)
		}
		times = append(times, r.LoadMS/1000)
	}
	return median(times), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// comparePeer finds, for each of the peer's ef points, our latency at its
// recall: linear between our two ef points around it (our lowest ef's
// latency when even that beats it), none when we never reach it.
func comparePeer(name string, n int, ours, peer annFigure) []peerCompare {
	var out []peerCompare
	for _, p := range peer.Efs {
		c := peerCompare{Peer: name, N: n, Ef: p.Ef, Recall: p.Recall, PeerMS: peerLatency(p)}
		want := p.Recall - recallSlack
		for i, o := range ours.Efs {
			c.OursTop = max(c.OursTop, o.Recall)
			if c.Reached || o.Recall < want {
				continue
			}
			c.Reached = true
			c.OursMS = o.P50MS
			if i > 0 && ours.Efs[i-1].Recall < want {
				lo := ours.Efs[i-1]
				frac := (want - lo.Recall) / (o.Recall - lo.Recall)
				c.OursMS = lo.P50MS + frac*(o.P50MS-lo.P50MS)
			}
		}
		if c.Reached && c.PeerMS > 0 {
			c.Ratio = c.OursMS / c.PeerMS
			c.WithinTgt = c.Ratio <= peerLatencyTarget
		}
		out = append(out, c)
	}
	return out
}

// peerLatency is a peer's single-query latency: the lower of its per-call
// p50 and its one-thread batch mean, so Python's call overhead does not
// count against it.
func peerLatency(e efFigure) float64 {
	if e.Batch1MS > 0 && e.Batch1MS < e.P50MS {
		return e.Batch1MS
	}
	return e.P50MS
}

// runPeers writes the data as .npy files and runs bench/peers.py (hnswlib
// and faiss from Python) and hnswlib compiled for this CPU
// (bench/peers/hnswlib_native.cpp) on them.
func runPeers(ctx context.Context, b *bench, base, queries [][]float32, truth [][]int) (map[string]annFigure, error) {
	dir, err := os.MkdirTemp(b.tmp, "peers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ids := make([][]int32, len(truth))
	for i, t := range truth {
		for _, x := range t {
			ids[i] = append(ids[i], int32(x))
		}
	}
	if err := writeNpyFloat32(filepath.Join(dir, "base.npy"), base); err != nil {
		return nil, err
	}
	if err := writeNpyFloat32(filepath.Join(dir, "queries.npy"), queries); err != nil {
		return nil, err
	}
	if err := writeNpyInt32(filepath.Join(dir, "truth.npy"), ids); err != nil {
		return nil, err
	}
	efs := make([]string, len(indexEfs))
	for i, e := range indexEfs {
		efs[i] = fmt.Sprint(e)
	}
	params := []string{"--dir", dir,
		"--m", fmt.Sprint(index.DefaultM), "--efc", fmt.Sprint(index.DefaultEfConstruction),
		"--ef", strings.Join(efs, ","), "--k", fmt.Sprint(indexK), "--threads", "2"}
	peers := map[string]annFigure{}
	if py := b.python(); py == "" {
		peers["hnswlib"] = annFigure{Skipped: "skipped: no Python with numpy (apt-get install python3-numpy python3-hnswlib python3-faiss; make bench does it as root)"}
		peers["faiss"] = annFigure{Skipped: "skipped: no Python with numpy"}
	} else {
		cmd := exec.CommandContext(ctx, py, append([]string{b.cfg.peers}, params...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, b.log
		b.logf("running %s", strings.Join(cmd.Args, " "))
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s: %w", b.cfg.peers, err)
		}
		if peers, err = parsePeers(out.Bytes()); err != nil {
			return nil, err
		}
	}
	bin, version, why := b.nativePeer(ctx)
	if bin == "" {
		peers[nativePeer] = annFigure{Skipped: "skipped: " + why}
		return peers, nil
	}
	cmd := exec.CommandContext(ctx, bin, append(params, "--version", version)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.log
	b.logf("running %s", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	native, err := parsePeers(out.Bytes())
	if err != nil {
		return nil, err
	}
	f, ok := native[nativePeer]
	if !ok {
		return nil, fmt.Errorf("%s printed no %s entry", bin, nativePeer)
	}
	peers[nativePeer] = f
	return peers, nil
}

// nativePeer is hnswlib's C++ headers compiled for this CPU.
const nativePeer = "hnswlib-native"

// nativeFlags are how the native peer is compiled.
const nativeFlags = "-O3 -march=native -std=c++17 -pthread"

// nativePeer compiles bench/peers/hnswlib_native.cpp (beside -peers) with
// g++ against Debian's libhnswlib-dev headers, once per run, and returns
// the program and the version to report, or why there is none.
func (b *bench) nativePeer(ctx context.Context) (bin, version, why string) {
	if b.native != "" || b.nativeWhy != "" {
		return b.native, b.nativeVer, b.nativeWhy
	}
	src := filepath.Join(filepath.Dir(b.cfg.peers), "peers", "hnswlib_native.cpp")
	const header = "/usr/include/hnswlib/hnswlib.h"
	gxx, err := exec.LookPath("g++")
	switch {
	case err != nil:
		b.nativeWhy = "no g++ (apt-get install g++ libhnswlib-dev; make bench-peers does it as root)"
	case !fileExists(header):
		b.nativeWhy = "no " + header + " (apt-get install libhnswlib-dev; make bench-peers does it as root)"
	case !fileExists(src):
		b.nativeWhy = "no " + src
	}
	if b.nativeWhy != "" {
		return "", "", b.nativeWhy
	}
	out := filepath.Join(b.tmp, "hnswlib-native")
	args := append(strings.Fields(nativeFlags), src, "-o", out)
	b.logf("compiling %s %s", gxx, strings.Join(args, " "))
	if msg, err := exec.CommandContext(ctx, gxx, args...).CombinedOutput(); err != nil {
		b.nativeWhy = fmt.Sprintf("g++ failed: %v: %s", err, lastLine(msg))
		return "", "", b.nativeWhy
	}
	ver := "libhnswlib-dev"
	if v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "libhnswlib-dev").Output(); err == nil && len(v) > 0 {
		ver = string(v)
	}
	b.native, b.nativeVer = out, ver+" (g++ "+nativeFlags+")"
	return b.native, b.nativeVer, ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// python returns the -python interpreter when it imports numpy, else
// Debian's /usr/bin/python3 (where apt installs hnswlib and faiss) when
// that does, else "".
func (b *bench) python() string {
	for _, p := range []string{b.cfg.python, "/usr/bin/python3"} {
		if p == "" {
			continue
		}
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			return p
		}
	}
	return ""
}

// peerJSON is one library's entry in peers.py's output.
type peerJSON struct {
	Skipped     string     `json:"skipped"`
	Version     string     `json:"version"`
	N           int        `json:"n"`
	BuildS      float64    `json:"build_s"`
	MemoryBytes float64    `json:"memory_bytes"`
	SaveBytes   float64    `json:"save_bytes"`
	LoadS       float64    `json:"load_s"`
	Results     []efFigure `json:"results"`
}

// parsePeers reads peers.py's JSON into figures keyed by library.
func parsePeers(data []byte) (map[string]annFigure, error) {
	var in map[string]peerJSON
	if err := json.Unmarshal(bytes.TrimSpace(data), &in); err != nil {
		return nil, fmt.Errorf("read peers output: %w", err)
	}
	out := map[string]annFigure{}
	for name, p := range in {
		f := annFigure{Impl: name, Version: p.Version, N: p.N, BuildS: p.BuildS,
			MemBytes: p.MemoryBytes, SaveBytes: p.SaveBytes, LoadS: p.LoadS, Efs: p.Results}
		if p.Skipped != "" {
			f.Skipped = "skipped: " + p.Skipped
		}
		if p.BuildS > 0 {
			f.VectorsPS = float64(p.N) / p.BuildS
		}
		slices.SortFunc(f.Efs, func(a, b efFigure) int { return a.Ef - b.Ef })
		out[name] = f
	}
	return out, nil
}

func indexTables(s *Section, raw *indexRaw) {
	bt := Table{
		Caption: "Build and storage. Memory: live Go heap growth over the build, after GC (peers: process RSS growth); coder/hnsw keeps references to the caller's vectors, so its figure leaves them out.",
		Header:  []string{"index", "n", "build", "vectors/s", "memory", "saved size", "load (this process / a fresh one)"},
	}
	qt := Table{
		Caption: fmt.Sprintf("Queries (%d, k=%d): recall@10 against the exact answer, latency of one query at a time (p50, p99), queries/s with 2 threads.", raw.Queries, indexK),
		Header:  []string{"index", "n", "ef", "recall@10", "p50", "p99", "queries/s (2 threads)"},
	}
	for _, f := range raw.Figures {
		name := f.Impl
		if f.Version != "" {
			name += " " + f.Version
		}
		if f.Skipped != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %s", name, f.Skipped))
			continue
		}
		load := seconds(f.LoadS)
		if f.LoadFreshS > 0 {
			load += " / " + seconds(f.LoadFreshS)
		}
		bt.Rows = append(bt.Rows, []string{name, num(float64(f.N)), seconds(f.BuildS), num(f.VectorsPS), mib(f.MemBytes), mib(f.SaveBytes), load})
		for _, e := range f.Efs {
			ef := fmt.Sprint(e.Ef)
			if e.Ef == 0 {
				ef = "exact"
			}
			p50 := ms(e.P50MS)
			if e.Batch1MS > 0 {
				p50 += fmt.Sprintf(" (batch mean %s)", ms(e.Batch1MS))
			}
			qt.Rows = append(qt.Rows, []string{name, num(float64(f.N)), ef, fmt.Sprintf("%.4f", e.Recall), p50, ms(e.P99MS), num(e.QPS)})
		}
		if a, tu := f.Auto, f.Tuning; a != nil && tu != nil {
			qt.Rows = append(qt.Rows, []string{name, num(float64(f.N)), fmt.Sprintf("auto: %d", a.Ef), fmt.Sprintf("%.4f", a.Recall), ms(a.P50MS), ms(a.P99MS), num(a.QPS)})
			s.Notes = append(s.Notes, fmt.Sprintf("%s (n=%s): auto ef chosen by HNSW.Tune for recall@10 ≥ %.2f on %d stored vectors: ef %d, sample recall %.4f, in %s (build %s)",
				name, num(float64(f.N)), tu.Target, min(index.TuneQueries, f.N), tu.Ef, tu.Recall, seconds(f.TuneS), seconds(f.BuildS)))
			s.Targets = append(s.Targets, Target{
				What: fmt.Sprintf("HNSW auto ef recall@10 on the bench queries (n=%s)", num(float64(f.N))),
				Want: fmt.Sprintf("≥ %.2f", tu.Target),
				Got:  fmt.Sprintf("%.4f at ef %d", a.Recall, a.Ef),
				Met:  a.Recall >= tu.Target,
			}, Target{
				What: fmt.Sprintf("HNSW tuning time (n=%s)", num(float64(f.N))),
				Want: "≤ 10% of the build",
				Got:  fmt.Sprintf("%s, %.1f%% of %s", seconds(f.TuneS), 100*f.TuneS/f.BuildS, seconds(f.BuildS)),
				Met:  f.TuneS <= 0.1*f.BuildS,
			})
		}
		if f.Note != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("%s (n=%s): %s", name, num(float64(f.N)), f.Note))
		}
	}
	s.Tables = append(s.Tables, bt, qt)
	if raw.PeerNote != "" {
		s.Notes = append(s.Notes, "hnswlib, faiss: "+raw.PeerNote)
	}
	if len(raw.Compare) == 0 {
		return
	}
	ct := Table{
		Caption: fmt.Sprintf("simsearch HNSW against each peer at the peer's recall@10 (ours interpolated between our ef points; equal within %.3f). Peer latency: the lower of its per-call p50 and its one-thread batch mean. Target: ours ≤ %.1f× theirs.", recallSlack, peerLatencyTarget),
		Header:  []string{"peer", "n", "peer ef", "peer recall@10", "peer latency", "ours at that recall", "ratio", "within 1.5×"},
	}
	byPeer := map[string][]peerCompare{}
	var order []string
	for _, c := range raw.Compare {
		if _, ok := byPeer[c.Peer]; !ok {
			order = append(order, c.Peer)
		}
		byPeer[c.Peer] = append(byPeer[c.Peer], c)
		ours, ratio, ok := "not reached (best "+fmt.Sprintf("%.4f", c.OursTop)+")", "—", "**no**"
		if c.Reached {
			ours, ratio = ms(c.OursMS), fmt.Sprintf("%.2f", c.Ratio)
			if c.WithinTgt {
				ok = "yes"
			}
		}
		ct.Rows = append(ct.Rows, []string{c.Peer, num(float64(c.N)), fmt.Sprint(c.Ef), fmt.Sprintf("%.4f", c.Recall), ms(c.PeerMS), ours, ratio, ok})
	}
	s.Tables = append(s.Tables, ct)
	for _, p := range order {
		cs := byPeer[p]
		var miss []string
		worst := 0.0
		for _, c := range cs {
			worst = max(worst, c.Ratio)
			if !c.WithinTgt {
				if c.Reached {
					miss = append(miss, fmt.Sprintf("ef %d: %.2f×", c.Ef, c.Ratio))
				} else {
					miss = append(miss, fmt.Sprintf("ef %d: recall %.4f not reached", c.Ef, c.Recall))
				}
			}
		}
		got := fmt.Sprintf("all %d ef points; worst %.2f×", len(cs), worst)
		if len(miss) > 0 {
			got = fmt.Sprintf("%d of %d ef points; misses %s", len(cs)-len(miss), len(cs), strings.Join(miss, ", "))
		}
		s.Targets = append(s.Targets, Target{
			What: fmt.Sprintf("HNSW latency at %s's recall@10 (n=%s)", p, num(float64(cs[0].N))),
			Want: fmt.Sprintf("≤ %.1f× %s", peerLatencyTarget, p),
			Got:  got,
			Met:  len(miss) == 0,
		})
	}
}

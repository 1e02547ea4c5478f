package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// coldRuns is how many fresh processes each cold-query figure is the
// median of.
const coldRuns = 5

// coldGoalMS is the goal for the rest of a cold query: at most
// model load + one extraction + 150 ms.
const coldGoalMS = 150

// coldRaw is a cold `simsearch query` on the store row's database, in
// parts: for this checkout ("after") and, with -before DIR, for simsearch
// and this harness built from an earlier commit ("before"), whose
// query-parts probe times the same steps with that commit's code.
type coldRaw struct {
	N          int         `json:"n"`
	Image      photoSize   `json:"query_image"`
	After      coldSide    `json:"after"`
	Before     *coldSide   `json:"before,omitempty"`
	BeforeNote string      `json:"before_note,omitempty"`
	Index      indexParts  `json:"index_load_after"`
	Engine     engineParts `json:"engine_after"`
}

// coldSide is one build's figures, each the median of coldRuns fresh
// processes.
type coldSide struct {
	Dir     string     `json:"dir"`
	StartMS float64    `json:"process_start_ms"` // simsearch --help
	WholeMS float64    `json:"whole_query_ms"`
	Parts   queryParts `json:"parts"`
	// RestMS is the median over the runs of the whole command less the
	// first Embed of the engine probe run right after it by the same
	// build: pairs of processes a second apart see about the same load,
	// where medians taken minutes apart on a busy machine did not (the
	// difference once came out below 0). Zero when not measured.
	RestMS float64 `json:"whole_less_first_embed_ms,omitempty"`
	// BeyondMS is the same goal's figure taken inside one process, the
	// engine probe's, so that no two processes' loads are compared: its
	// process start (--help, run just before) + LoadModel + Open
	// (database and index) + QueryVector + Close, the query's own work
	// beside the first Embed, done one after the other (the CLI overlaps
	// Open with making the session, so it can only do better with a free
	// core). Median over the runs.
	BeyondMS     float64     `json:"beyond_first_embed_one_process_ms,omitempty"`
	FirstEmbedMS float64     `json:"first_embed_ms,omitempty"`
	Engine       engineParts `json:"engine"`
}

// indexParts splits this checkout's index load: what the store's snapshot
// reader takes (bbolt pages, chunk order, checksum) and the rest of Load
// (decoding, checks, the id map). CatchUpMS is what a stale snapshot
// would add: reading and comparing every stored vector (a current one,
// as here, needs none).
type indexParts struct {
	OpenMS float64 `json:"open_db_ms"`
	// FileMS is LoadIndexFile with HNSW.LoadFile: the header, the map,
	// the checksum of every page, the neighbour checks and the id map;
	// FileFaults the minor page faults it took. Zero when there is no
	// current index file.
	FileMS     float64 `json:"index_file_ms"`
	FileFaults int64   `json:"index_file_minor_faults"`
	FileBytes  int64   `json:"index_file_bytes"`
	// The snapshot in the database, which a query reads when the index
	// file is missing or unusable.
	ReadMS     float64 `json:"read_snapshot_ms"`
	DecodeMS   float64 `json:"decode_ms"`
	ReadFaults int64   `json:"read_decode_minor_faults"`
	CatchUpMS  float64 `json:"catch_up_if_stale_ms"`
	Bytes      int64   `json:"snapshot_bytes"`
}

// coldRow is the cold query in parts, before and after.
func coldRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "3b. Cold query in parts, before and after"}
	raw, err := coldQuery(ctx, b)
	if err != nil {
		return s, err
	}
	s.Raw = raw
	coldTables(&s, raw)
	return s, nil
}

// coldQuery measures the cold query.
func coldQuery(ctx context.Context, b *bench) (*coldRaw, error) {
	if b.cfg.before != "" { // before the minutes the database takes
		for _, name := range []string{"simsearch", "simsearch-bench"} {
			if _, err := os.Stat(filepath.Join(b.cfg.before, name)); err != nil {
				return nil, fmt.Errorf("-before: %w (make bench-before builds both)", err)
			}
		}
	}
	d, err := b.bigDB(ctx)
	if err != nil {
		return nil, err
	}
	_, dir, err := b.model(ctx)
	if err != nil {
		return nil, err
	}
	raw := &coldRaw{N: d.N, Image: photoSize{"2MP", 1920, 1080}}
	if b.cfg.quick {
		raw.Image = photoSize{"small", 320, 240}
	}
	img, err := photoDir(b.workDir(), raw.Image, 1, 900_000)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(b.cfg.bin)
	if err != nil {
		return nil, err
	}
	builds := []build{{"this checkout", bin, self}}
	if b.cfg.before != "" {
		builds = append(builds, build{b.cfg.before, filepath.Join(b.cfg.before, "simsearch"), filepath.Join(b.cfg.before, "simsearch-bench")})
	} else {
		raw.BeforeNote = "before: not measured; build simsearch and this harness from the earlier commit into DIR (make bench-before BENCH_BEFORE=COMMIT) and pass -before DIR"
	}
	b.logf("cold query on %d items, %d fresh processes per figure, builds taking turns: %v", d.N, coldRuns, builds)
	sides, err := coldSides(ctx, builds, d.Path, dir, img[0])
	if err != nil {
		return nil, err
	}
	raw.After = sides[0]
	if len(sides) > 1 {
		raw.Before = &sides[1]
	}
	var splits []indexParts
	for range coldRuns {
		var p indexParts
		if err := runProbeJSON(ctx, self, &p, "index-parts", d.Path, dir); err != nil {
			return nil, err
		}
		splits = append(splits, p)
	}
	raw.Engine = raw.After.Engine
	raw.Index = indexParts{
		OpenMS:     medianOf(splits, func(p indexParts) float64 { return p.OpenMS }),
		FileMS:     medianOf(splits, func(p indexParts) float64 { return p.FileMS }),
		FileFaults: int64(medianOf(splits, func(p indexParts) float64 { return float64(p.FileFaults) })),
		FileBytes:  splits[0].FileBytes,
		ReadFaults: int64(medianOf(splits, func(p indexParts) float64 { return float64(p.ReadFaults) })),
		ReadMS:     medianOf(splits, func(p indexParts) float64 { return p.ReadMS }),
		DecodeMS:   medianOf(splits, func(p indexParts) float64 { return p.DecodeMS }),
		CatchUpMS:  medianOf(splits, func(p indexParts) float64 { return p.CatchUpMS }),
		Bytes:      splits[0].Bytes,
	}
	return raw, nil
}

// build is one build of simsearch and its harness.
type build struct{ name, bin, harness string }

// coldSides times, for each build, the CLI (--help, then the query) and
// the harness's query-parts probe, each in coldRuns fresh processes; the
// builds take turns, so a change of load hits both alike.
func coldSides(ctx context.Context, builds []build, db, dir, img string) ([]coldSide, error) {
	type samples struct {
		starts, whole, rest, beyond []float64
		parts                       []queryParts
		engines                     []engineParts
	}
	all := make([]samples, len(builds))
	for range coldRuns {
		for i, bd := range builds {
			sm := &all[i]
			r, err := runTimed(ctx, bd.bin, "--help")
			if err != nil {
				return nil, err
			}
			sm.starts = append(sm.starts, r.ms)
			if r, err = runTimed(ctx, bd.bin, "--db", db, "--models-dir", dir, "query", img, "--format", "json"); err != nil {
				return nil, err
			}
			sm.whole = append(sm.whole, r.ms)
			var p queryParts
			if err := runProbeJSON(ctx, bd.harness, &p, "query-parts", db, dir, img); err != nil {
				return nil, fmt.Errorf("%s: %w", bd.name, err)
			}
			sm.parts = append(sm.parts, p)
			var ep engineParts
			if err := runProbeJSON(ctx, bd.harness, &ep, "engine-parts", db, dir, img); err != nil {
				return nil, fmt.Errorf("%s: %w", bd.name, err)
			}
			sm.engines = append(sm.engines, ep)
			sm.rest = append(sm.rest, sm.whole[len(sm.whole)-1]-ep.FirstEmbedMS)
			sm.beyond = append(sm.beyond, sm.starts[len(sm.starts)-1]+ep.LoadModelMS+ep.OpenMS+ep.SearchMS+ep.CloseMS)
		}
	}
	out := make([]coldSide, len(builds))
	for i, sm := range all {
		out[i] = coldSide{
			Dir: builds[i].name, StartMS: median(sm.starts), WholeMS: median(sm.whole),
			Parts: queryParts{
				RuntimeMS:   medianOf(sm.parts, func(p queryParts) float64 { return p.RuntimeMS }),
				SessionMS:   medianOf(sm.parts, func(p queryParts) float64 { return p.SessionMS }),
				ExtractMS:   medianOf(sm.parts, func(p queryParts) float64 { return p.ExtractMS }),
				IndexLoadMS: medianOf(sm.parts, func(p queryParts) float64 { return p.IndexLoadMS }),
				SearchMS:    medianOf(sm.parts, func(p queryParts) float64 { return p.SearchMS }),
			},
			RestMS:       median(sm.rest),
			BeyondMS:     median(sm.beyond),
			FirstEmbedMS: medianOf(sm.engines, func(p engineParts) float64 { return p.FirstEmbedMS }),
			Engine: engineParts{
				LoadModelMS:   medianOf(sm.engines, func(p engineParts) float64 { return p.LoadModelMS }),
				OpenMS:        medianOf(sm.engines, func(p engineParts) float64 { return p.OpenMS }),
				FirstEmbedMS:  medianOf(sm.engines, func(p engineParts) float64 { return p.FirstEmbedMS }),
				SecondEmbedMS: medianOf(sm.engines, func(p engineParts) float64 { return p.SecondEmbedMS }),
				SearchMS:      medianOf(sm.engines, func(p engineParts) float64 { return p.SearchMS }),
				CloseMS:       medianOf(sm.engines, func(p engineParts) float64 { return p.CloseMS }),
			},
		}
	}
	return out, nil
}

// runProbeJSON runs harness -probe name args and decodes its JSON into v.
func runProbeJSON(ctx context.Context, harness string, v any, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, harness, append([]string{"-probe", name}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s probe %s: %w: %s", filepath.Base(harness), name, err, bytes.TrimSpace(errb.Bytes()))
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("%s probe %s: %w", filepath.Base(harness), name, err)
	}
	return nil
}

func medianOf[T any](s []T, f func(T) float64) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	return median(v)
}

// probeIndexParts opens dbPath read-only and loads its snapshot, timing
// the store's reader apart from the rest of Load, then reads every stored
// vector as a stale snapshot's catch-up would.
func probeIndexParts(dbPath, modelsDir string) (indexParts, error) {
	var p indexParts
	spec, err := model.Load(modelsDir, "vgg16-random")
	if err != nil {
		return p, err
	}
	t := time.Now()
	db, err := store.Open(dbPath, &store.Options{ReadOnly: true, Fingerprint: spec.Fingerprint(spec.Pooling), Dims: spec.Channels})
	if err != nil {
		return p, err
	}
	defer db.Close()
	p.OpenMS = msSince(t)
	fh := index.NewHNSW(spec.Channels, nil)
	faults := minorFaults()
	t = time.Now()
	mapped, err := db.LoadIndexFile(func(f *os.File, off int64) error {
		if fi, err := f.Stat(); err == nil {
			p.FileBytes = fi.Size()
		}
		return fh.LoadFile(f, off)
	})
	if err != nil {
		return p, err
	}
	if mapped {
		p.FileMS = msSince(t)
		p.FileFaults = minorFaults() - faults
	}

	h := index.NewHNSW(spec.Channels, nil)
	tr := &timedReader{}
	faults = minorFaults()
	t = time.Now()
	_, current, err := db.LoadIndex(func(r io.Reader) error {
		l, ok := r.(lendingReader)
		if !ok {
			return fmt.Errorf("the snapshot reader does not lend its bytes")
		}
		tr.r = l
		return h.Load(tr)
	})
	total := msSince(t)
	if err != nil {
		return p, err
	}
	if !current {
		return p, fmt.Errorf("index snapshot of %s is not current", dbPath)
	}
	p.ReadFaults = minorFaults() - faults
	p.ReadMS = float64(tr.spent.Nanoseconds()) / 1e6
	p.DecodeMS = total - p.ReadMS
	p.Bytes = tr.n
	t = time.Now()
	var stale int
	err = db.ForEachVector(func(id uint64, v []float32) error {
		if old, ok := h.Vector(id); !ok || len(old) != len(v) {
			stale++
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	p.CatchUpMS = msSince(t)
	if stale > 0 {
		return p, fmt.Errorf("%d stored vectors missing from a current snapshot", stale)
	}
	return p, nil
}

// minorFaults is this process's count of minor page faults so far (field
// 10 of /proc/self/stat), or 0 where there is none.
func minorFaults() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64)
	return n
}

// timedReader passes the store's snapshot reader through, adding up the
// time spent inside it. It has the reader's Len and Next, so Load takes
// the same path as without it.
type timedReader struct {
	r     lendingReader
	spent time.Duration
	n     int64
}

// lendingReader is what the store's snapshot reader offers index.Load.
type lendingReader interface {
	io.Reader
	Next(n int) ([]byte, error)
	Len() int
}

func (t *timedReader) Read(p []byte) (int, error) {
	s := time.Now()
	n, err := t.r.Read(p)
	t.spent += time.Since(s)
	t.n += int64(n)
	return n, err
}

func (t *timedReader) Next(n int) ([]byte, error) {
	s := time.Now()
	b, err := t.r.Next(n)
	t.spent += time.Since(s)
	t.n += int64(len(b))
	return b, err
}

func (t *timedReader) Len() int { return t.r.Len() }

// coldTables renders the cold query in parts, before and after.
func coldTables(s *Section, c *coldRaw) {
	sides := []*coldSide{&c.After}
	header := []string{"part", "after (this checkout)"}
	if c.Before != nil {
		sides = []*coldSide{c.Before, &c.After}
		header = []string{"part", "before (" + c.Before.Dir + ")", "after (this checkout)"}
	}
	row := func(name string, f func(*coldSide) float64) []string {
		r := []string{name}
		for _, sd := range sides {
			r = append(r, ms(f(sd)))
		}
		return r
	}
	// rest is the whole command less the goal's allowance, model load
	// and one extraction: the library's first Embed (engine table), which
	// makes the session as the CLI does, with the graph cache (the
	// query-parts probe makes it without). Both builds share that code.
	allowance := c.Engine.FirstEmbedMS
	rest := func(sd *coldSide) float64 {
		if sd.RestMS != 0 {
			return sd.RestMS // paired with its own build's first Embed
		}
		return sd.WholeMS - allowance
	}
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("A cold `simsearch query` (a %s %d×%d JPEG not in the database, `--format json`) on the store row's database of %s items, each figure the median of %d fresh processes; the parts come from the harness's query-parts probe of the same build, which does the query's steps one at a time (its session is made without the graph cache, so it is slower than the CLI's; the parts are timed in other processes than the whole command and need not add up to it).", c.Image.Name, c.Image.W, c.Image.H, num(float64(c.N)), coldRuns),
		Header:  header,
		Rows: [][]string{
			row("process start (`simsearch --help`)", func(sd *coldSide) float64 { return sd.StartMS }),
			row("model load: ONNX Runtime library and environment", func(sd *coldSide) float64 { return sd.Parts.RuntimeMS }),
			row("model load: session", func(sd *coldSide) float64 { return sd.Parts.SessionMS }),
			row("extraction of the query image", func(sd *coldSide) float64 { return sd.Parts.ExtractMS }),
			row("index load: open the database, load the index (before: read and decode the snapshot in the database; after: map the index file beside it)", func(sd *coldSide) float64 { return sd.Parts.IndexLoadMS }),
			row("search (k=10, default ef) and item lookups", func(sd *coldSide) float64 { return sd.Parts.SearchMS }),
			row("**whole command**", func(sd *coldSide) float64 { return sd.WholeMS }),
			row("first Embed through the library (engine probe run after each whole command)", func(sd *coldSide) float64 { return sd.FirstEmbedMS }),
			row("whole command − model load and one extraction (the library's first Embed), median of the pairs", rest),
			row("beyond the first Embed in one process: process start + LoadModel + Open + QueryVector + Close (engine probe, one after the other)", func(sd *coldSide) float64 { return sd.BeyondMS }),
		},
	})
	ip := c.Index
	fileRow := []string{"map the index file (LoadIndexFile, HNSW.LoadFile: map, checksum of every page, neighbour checks, id map)", "none current"}
	if ip.FileMS > 0 {
		fileRow = []string{fileRow[0], fmt.Sprintf("%s, %s minor faults", ms(ip.FileMS), num(float64(ip.FileFaults)))}
	}
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("This checkout's index load in parts (median of %d fresh processes, %s of snapshot, %s of index file): the mapped index file, which a query uses, then in the same process the snapshot in the database, which it reads when the file is missing or damaged: the store's snapshot reader (bbolt pages, chunk order, checksum) apart from the rest of HNSW.Load (decoding into new slabs, checks, the id map).", coldRuns, mib(float64(ip.Bytes)), mib(float64(ip.FileBytes))),
		Header:  []string{"part", "time"},
		Rows: [][]string{
			{"open the database read-only", ms(ip.OpenMS)},
			fileRow,
			{"fallback: read the snapshot in the database (store)", ms(ip.ReadMS)},
			{fmt.Sprintf("fallback: decode it (index; read and decode %s minor faults)", num(float64(ip.ReadFaults))), ms(ip.DecodeMS)},
			{"catch-up from the stored vectors: not needed, the snapshot is current; reading them all, what a stale one adds at least", ms(ip.CatchUpMS)},
		},
	})
	ep := c.Engine
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("This checkout's cold query through the library, as the CLI makes it (median of %d fresh processes): LoadModel, Open read-only, Model.Embed twice (the second is extraction alone), QueryVector, Close.", coldRuns),
		Header:  []string{"step", "time"},
		Rows: [][]string{
			{"LoadModel (the spec)", ms(ep.LoadModelMS)},
			{"Open: database and index", ms(ep.OpenMS)},
			{"first Embed: runtime, session (graph cache), extraction", ms(ep.FirstEmbedMS)},
			{"second Embed: extraction alone", ms(ep.SecondEmbedMS)},
			{"QueryVector: search and item lookups", ms(ep.SearchMS)},
			{"Close: session, runtime, database", ms(ep.CloseMS)},
		},
	})
	if c.BeforeNote != "" {
		s.Notes = append(s.Notes, c.BeforeNote)
	}
	s.Notes = append(s.Notes, fmt.Sprintf("goal: whole command ≤ model load + one extraction + %d ms, the allowance being the first Embed through the library (this checkout's median %s, engine table) of the engine probe that each run starts right after the whole command; the goal's figure is the median of those pairs' differences. They are still separate processes, so on a busy machine a difference can fall below 0", coldGoalMS, ms(allowance)))
	if b := c.Before; b != nil && c.After.Parts.IndexLoadMS > 0 && c.After.WholeMS > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("before ÷ after: index load %.2f×, whole command %.2f× (one run of this row, both builds measured in turn)",
			b.Parts.IndexLoadMS/c.After.Parts.IndexLoadMS, b.WholeMS/c.After.WholeMS))
	}
	got, met := ms(rest(&c.After)), rest(&c.After) <= coldGoalMS
	if rest(&c.After) < 0 {
		// The whole command and the first Embed are timed in different
		// processes; on a busy machine the first can take less than the
		// second, which says nothing about the goal.
		got, met = fmt.Sprintf("not measured: %s, below 0 because the two were timed apart on a busy machine", got), false
	}
	s.Targets = append(s.Targets, Target{
		What: fmt.Sprintf("cold query on %s items beyond model load and one extraction (first Embed)", num(float64(c.N))),
		Want: fmt.Sprintf("≤ %d ms", coldGoalMS),
		Got:  got,
		Met:  met,
	})
	if b := c.After.BeyondMS; b > 0 {
		s.Targets = append(s.Targets, Target{
			What: fmt.Sprintf("the same, timed inside one process (start + LoadModel + Open + QueryVector + Close beside the first Embed, one after the other) on %s items", num(float64(c.N))),
			Want: fmt.Sprintf("≤ %d ms", coldGoalMS),
			Got:  ms(b),
			Met:  b <= coldGoalMS,
		})
	}
}

// engineParts is a cold query through the library's API, as the CLI does
// it, one call at a time: what the CLI's whole command spends beyond the
// query-parts probe shows up here (the graph cache, the engine's open,
// closing the session).
type engineParts struct {
	LoadModelMS   float64 `json:"load_model_ms"`   // LoadModel: the spec
	OpenMS        float64 `json:"open_engine_ms"`  // Open, read-only: database and index
	FirstEmbedMS  float64 `json:"first_embed_ms"`  // runtime, session (graph cache), one extraction
	SecondEmbedMS float64 `json:"second_embed_ms"` // the same image again: extraction alone
	SearchMS      float64 `json:"search_ms"`       // QueryVector: search and item lookups
	CloseMS       float64 `json:"close_ms"`        // engine and model: session, runtime, database
}

// probeEngineParts times a cold query through simsearch.Open and Model.
func probeEngineParts(ctx context.Context, dbPath, modelsDir, image string) (engineParts, error) {
	var p engineParts
	t := time.Now()
	m, err := simsearch.LoadModel(ctx, &simsearch.ModelOptions{Dir: modelsDir, Name: "vgg16-random"})
	if err != nil {
		return p, err
	}
	p.LoadModelMS = msSince(t)
	t = time.Now()
	e, err := simsearch.Open(ctx, &simsearch.Options{DB: dbPath, Model: m, ReadOnly: true})
	if err != nil {
		m.Close()
		return p, err
	}
	p.OpenMS = msSince(t)
	var vec []float32
	for i, dst := range []*float64{&p.FirstEmbedMS, &p.SecondEmbedMS} {
		t = time.Now()
		out, err := m.Embed(ctx, []string{image})
		if err == nil {
			err = out[0].Err
		}
		if err != nil {
			e.Close()
			m.Close()
			return p, fmt.Errorf("embed %d: %w", i+1, err)
		}
		*dst, vec = msSince(t), out[0].Vector
	}
	t = time.Now()
	hits, err := e.QueryVector(vec, 0, &simsearch.QueryOptions{K: 10})
	if err != nil || len(hits) == 0 {
		e.Close()
		m.Close()
		return p, fmt.Errorf("query: %d hits, %v", len(hits), err)
	}
	p.SearchMS = msSince(t)
	t = time.Now()
	err = errors.Join(e.Close(), m.Close())
	p.CloseMS = msSince(t)
	return p, err
}

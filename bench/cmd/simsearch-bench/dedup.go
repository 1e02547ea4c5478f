package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/evaluate"
	"github.com/simsearch/simsearch/internal/store"
)

// dedupThresholds are the cosine thresholds of the precision/recall table.
var dedupThresholds = []float32{0.60, 0.65, 0.70, 0.72, 0.75, 0.80, 0.85, 0.90}

type prfFigure struct {
	Threshold float32 `json:"threshold"`
	// Score pairs: every pair of photos whose cosine is at least the
	// threshold; group pairs: every pair that Duplicates puts in one group.
	ScoreP, ScoreR, ScoreF1 float64
	GroupP, GroupR, GroupF1 float64
}

type dedupRaw struct {
	N            int         `json:"n"`
	Threshold    float32     `json:"threshold"`
	GroupS       float64     `json:"group_s"`
	Groups       int         `json:"groups"`
	Members      int         `json:"members"`
	Planted      int         `json:"planted_pairs"`
	PlantedFound int         `json:"planted_found"`
	OtherPairs   int         `json:"other_pairs"`
	Photos       int         `json:"photos"`
	Copies       int         `json:"copies"`
	TruePairs    int         `json:"true_pairs"`
	PRF          []prfFigure `json:"prf"`

	// The default breadth (the index's tuning, capped) and the others.
	TunedEf   int             `json:"tuned_ef"`
	DefaultEf int             `json:"default_ef"`
	Breadths  []breadthFigure `json:"breadths"`

	// simsearch and findimagedupes side by side on the sample photos.
	Peers []peerFigure `json:"peers"`
}

func dedupRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "4. Dedup"}
	raw := &dedupRaw{}
	s.Raw = raw
	d, err := b.bigDB(ctx)
	if err != nil {
		return s, err
	}
	_, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	e, err := simsearch.Open(ctx, &simsearch.Options{DB: d.Path, ModelOptions: &simsearch.ModelOptions{Dir: dir, Name: "vgg16-random"}, ReadOnly: true})
	if err != nil {
		return s, err
	}
	raw.N, raw.Planted, raw.Threshold = d.N, d.Planted, e.Threshold()
	st, err := e.Stats()
	if err != nil {
		e.Close()
		return s, err
	}
	raw.TunedEf = st.IndexTuning.Ef
	for _, ef := range append([]int{0}, dedupEfs...) {
		b.logf("grouping %d stored embeddings at %.2f, ef %d (0: the default)", d.N, raw.Threshold, ef)
		f, err := groupAt(ctx, e, ef)
		if err != nil {
			e.Close()
			return s, err
		}
		if ef == 0 {
			raw.GroupS, raw.Groups, raw.PlantedFound, raw.OtherPairs = f.Seconds, f.Groups, f.PlantedFound, f.OtherPairs
			raw.DefaultEf = min(raw.TunedEf, simsearch.MaxDedupEf)
			continue
		}
		raw.Breadths = append(raw.Breadths, f)
	}
	e.Close()

	if err := samplePRF(ctx, b, dir, raw); err != nil {
		return s, err
	}
	dedupTables(&s, raw)
	return s, nil
}

// dedupEfs are the breadths the dedup row also groups at, besides the
// default (the index's tuned breadth, capped at simsearch.MaxDedupEf).
// Measured once at the uncapped 4,096 the index tuned itself to on these
// random vectors: 10,000 of 10,000 planted pairs in 29.2 min
// (bench/results/2026-12-01-vm.md, load 2 rising to 10), against 9,947 in
// 44 s at ef 64 before the index tuned its breadth (2026-11-29-vm.md).
var dedupEfs = []int{16, 64, 256}

// breadthFigure is one grouping of the big database at one breadth.
type breadthFigure struct {
	Ef           int     `json:"ef"`
	Seconds      float64 `json:"seconds"`
	Groups       int     `json:"groups"`
	PlantedFound int     `json:"planted_found"`
	OtherPairs   int     `json:"other_pairs"`
}

// groupAt groups the big database's items at search breadth ef (0: the
// default) and counts the planted copies found beside their originals.
func groupAt(ctx context.Context, e *simsearch.Engine, ef int) (breadthFigure, error) {
	f := breadthFigure{Ef: ef}
	t := time.Now()
	groups, err := e.Duplicates(ctx, nil, &simsearch.DedupOptions{Ef: ef})
	f.Seconds = time.Since(t).Seconds()
	if err != nil {
		return f, err
	}
	f.Groups = len(groups)
	for _, g := range groups {
		ki := itemIndex(g.Keeper.Path)
		for _, m := range g.Members {
			mi := itemIndex(m.Path)
			lo, hi := min(ki, mi), max(ki, mi)
			if hi == lo+1 && isCopy(hi) {
				f.PlantedFound++
			} else {
				f.OtherPairs++
			}
		}
	}
	return f, nil
}

func itemIndex(path string) int {
	var i int
	fmt.Sscanf(filepath.Base(path), "IMG_%06d.jpg", &i)
	return i
}

// samplePRF indexes the sample photos with the Engine and scores pair
// precision and recall against variants.csv, both on raw pair scores (as
// TestCalibration does) and on the groups Duplicates makes.
func samplePRF(ctx context.Context, b *bench, modelsDir string, raw *dedupRaw) error {
	photos, err := filepath.Abs(b.cfg.photos)
	if err != nil {
		return err
	}
	original, err := readVariants(filepath.Join(photos, "variants.csv"))
	if err != nil {
		return err
	}
	dbPath := filepath.Join(b.tmp, "photos.db")
	os.Remove(dbPath)
	e, err := simsearch.Open(ctx, &simsearch.Options{DB: dbPath, ModelOptions: &simsearch.ModelOptions{Dir: modelsDir, Name: "vgg16-random"}})
	if err != nil {
		return err
	}
	defer e.Close()
	roots := []string{photos}
	if b.cfg.quick {
		if roots, err = sampleSubset(photos, original); err != nil {
			return err
		}
		for v, o := range original {
			if !slices.Contains(roots, filepath.Join(photos, o)) {
				delete(original, v)
			}
		}
	}
	b.logf("indexing %s (%d roots)", photos, len(roots))
	start := time.Now()
	if _, err := e.Index(ctx, roots, nil); err != nil {
		return err
	}
	indexS := time.Since(start).Seconds()
	var items []store.Item
	var vecs [][]float32
	err = e.ForEachItem(func(it store.Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		v, err := e.Vector(it.ID)
		if err != nil {
			return err
		}
		vecs = append(vecs, v)
	}
	root := func(p string) string {
		if o, ok := original[filepath.Base(p)]; ok {
			return o
		}
		return filepath.Base(p)
	}
	raw.Photos, raw.Copies = len(items), len(original)
	pairs := evaluate.Pairs(vecs, func(i, j int) bool { return root(items[i].Path) == root(items[j].Path) })
	for _, p := range pairs {
		if p.Same {
			raw.TruePairs++
		}
	}
	seq := map[string]int{} // path to its index in items and pairs
	for i, it := range items {
		seq[it.Path] = i
	}
	for _, th := range dedupThresholds {
		f := prfFigure{Threshold: th}
		f.ScoreP, f.ScoreR, f.ScoreF1 = evaluate.PRF(pairs, evaluate.AtLeast(th))

		groups, err := e.Duplicates(ctx, nil, &simsearch.DedupOptions{Threshold: th})
		if err != nil {
			return err
		}
		grouped := map[[2]int]bool{} // index pairs, lower first
		for _, g := range groups {
			members := []int{seq[g.Keeper.Path]}
			for _, m := range g.Members {
				members = append(members, seq[m.Path])
			}
			for i := range members {
				for j := i + 1; j < len(members); j++ {
					a, b := members[i], members[j]
					grouped[[2]int{min(a, b), max(a, b)}] = true
				}
			}
		}
		f.GroupP, f.GroupR, f.GroupF1 = evaluate.PRF(pairs, func(p evaluate.Pair) bool { return grouped[[2]int{p.A, p.B}] })
		raw.PRF = append(raw.PRF, f)
	}
	return samplePeers(ctx, e, roots, items, pairs, original, indexS, raw)
}

// sampleSubset is what a quick run indexes of the sample photos: the
// first three originals in variants.csv with all their copies, and three
// photos that have none.
func sampleSubset(dir string, original map[string]string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	hasCopies := map[string]bool{}
	for _, o := range original {
		hasCopies[o] = true
	}
	var keep []string
	var withCopies, without int
	for _, e := range ents {
		n := e.Name()
		switch filepath.Ext(n) {
		case ".md", ".csv", ".sh":
			continue
		}
		if _, isCopy := original[n]; isCopy {
			continue
		}
		if hasCopies[n] && withCopies < 3 {
			withCopies++
			keep = append(keep, filepath.Join(dir, n))
			for v, o := range original {
				if o == n {
					keep = append(keep, filepath.Join(dir, v))
				}
			}
		} else if !hasCopies[n] && without < 3 {
			without++
			keep = append(keep, filepath.Join(dir, n))
		}
	}
	slices.Sort(keep)
	return keep, nil
}

// readVariants maps each variant's file name to its original's.
func readVariants(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]string{}
	for i, r := range rows {
		if i == 0 || len(r) < 2 {
			continue
		}
		out[r[0]] = r[1]
	}
	return out, nil
}

func dedupTables(s *Section, raw *dedupRaw) {
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("Grouping the stored embeddings of the store row's database (random 512-d vectors in 200 clusters, nearest non-copies at cosine about 0.61, every tenth a near copy of the one before it at cosine 0.88–0.99) with `Engine.Duplicates` at the model's threshold %.2f: read the items, search each one's 16 neighbours in HNSW, group.", raw.Threshold),
		Header:  []string{"items", "time", "items/s", "groups", "planted pairs found", "other pairs"},
		Rows: [][]string{{num(float64(raw.N)), seconds(raw.GroupS), num(float64(raw.N) / raw.GroupS), num(float64(raw.Groups)),
			fmt.Sprintf("%s of %s", num(float64(raw.PlantedFound)), num(float64(raw.Planted))), num(float64(raw.OtherPairs))}},
	})
	bt := Table{
		Caption: fmt.Sprintf("The same grouping at other search breadths. The default is the index's tuned breadth (%d on these vectors) capped at %d.", raw.TunedEf, simsearch.MaxDedupEf),
		Header:  []string{"ef", "time", "items/s", "planted pairs found", "other pairs"},
		Rows: [][]string{{fmt.Sprintf("%d (default)", raw.DefaultEf), seconds(raw.GroupS), num(float64(raw.N) / raw.GroupS),
			fmt.Sprintf("%s of %s", num(float64(raw.PlantedFound)), num(float64(raw.Planted))), num(float64(raw.OtherPairs))}},
	}
	for _, f := range raw.Breadths {
		bt.Rows = append(bt.Rows, []string{fmt.Sprint(f.Ef), seconds(f.Seconds), num(float64(raw.N) / f.Seconds),
			fmt.Sprintf("%s of %s", num(float64(f.PlantedFound)), num(float64(raw.Planted))), num(float64(f.OtherPairs))})
	}
	s.Tables = append(s.Tables, bt)
	t := Table{
		Caption: fmt.Sprintf("Pair precision, recall and F1 on `testdata/photos` (%d files: originals and %d generated copies listed in variants.csv, %d true pairs), vgg16-random. Scores: every pair at or above the threshold. Groups: the pairs that `Engine.Duplicates` puts in one group (groups never chain).", raw.Photos, raw.Copies, raw.TruePairs),
		Header:  []string{"threshold", "score P", "score R", "score F1", "group P", "group R", "group F1"},
	}
	for _, f := range raw.PRF {
		th := fmt.Sprintf("%.2f", f.Threshold)
		if f.Threshold == raw.Threshold {
			th += " (default)"
		}
		t.Rows = append(t.Rows, []string{th, f3(f.ScoreP), f3(f.ScoreR), f3(f.ScoreF1), f3(f.GroupP), f3(f.GroupR), f3(f.GroupF1)})
	}
	s.Tables = append(s.Tables, t)
	s.Tables = append(s.Tables, peerTable(raw))
	if raw.OtherPairs > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d grouped pairs are not planted copies: the nearest non-copies lie near cosine 0.61 and should never reach %.2f, so look at them.", raw.OtherPairs, raw.Threshold))
	}
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

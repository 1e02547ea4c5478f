package simsearch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/model"
)

// QueryOptions configure Engine.Query.
type QueryOptions struct {
	K        int     // results wanted; 0 means 10
	Ef       int     // HNSW search breadth; 0 means the one the index chose (Stats.IndexTuning)
	Exact    bool    // brute force over every stored vector instead of HNSW
	MinScore float32 // drop results below this cosine
	// Label, when set, keeps only items with that class among their
	// stored labels (any source, LabelTop per source): a class id (a
	// WordNet id such as n02129604) or a class name ("tiger", "Panthera
	// tigris"), ignoring case. The search is then exact over those items.
	Label string
	// TakenAfter and TakenBefore, when not zero, keep only items whose
	// capture time (Item.Taken) is at or after TakenAfter and before
	// TakenBefore; items without a capture time never match. A capture
	// time whose zone EXIF does not give was read as a wall clock in the
	// local zone, so a bound in the local zone compares wall clocks. The
	// search is then exact over those items, as for Label.
	TakenAfter, TakenBefore time.Time
}

// filter returns the test of an item that the options ask for, nil when
// they ask for none.
func (o *QueryOptions) filter() func(Item) bool {
	var tests []func(Item) bool
	if o.Label != "" {
		tests = append(tests, LabelMatcher(o.Label))
	}
	if !o.TakenAfter.IsZero() || !o.TakenBefore.IsZero() {
		tests = append(tests, TakenMatcher(o.TakenAfter, o.TakenBefore))
	}
	if len(tests) == 0 {
		return nil
	}
	return func(it Item) bool {
		for _, t := range tests {
			if !t(it) {
				return false
			}
		}
		return true
	}
}

// TakenMatcher returns a test of whether an item's capture time is at or
// after after and before before (a zero bound is no bound); an item
// without a capture time never passes.
func TakenMatcher(after, before time.Time) func(Item) bool {
	return func(it Item) bool {
		if it.Taken == 0 {
			return false
		}
		t := time.Unix(0, it.Taken)
		return (after.IsZero() || !t.Before(after)) && (before.IsZero() || t.Before(before))
	}
}

// Match is one query result.
type Match struct {
	Rank  int     `json:"rank"`
	Score float32 `json:"score"`
	Item
}

// Query returns the stored photos most similar to the image at path. When
// path is indexed and unchanged its stored vector is used and it is left
// out of its own results; otherwise the image is embedded.
func (e *Engine) Query(ctx context.Context, path string, opts *QueryOptions) ([]Match, error) {
	var o QueryOptions
	if opts != nil {
		o = *opts
	}
	if o.K <= 0 {
		o.K = 10
	}
	vec, self, err := e.queryVector(ctx, path)
	if err != nil {
		return nil, err
	}
	return e.QueryVector(vec, self, &o)
}

// QueryVector is Query for a vector already computed; self (0 for none) is
// left out of the results.
func (e *Engine) QueryVector(vec []float32, self uint64, o *QueryOptions) ([]Match, error) {
	defer e.release()
	k := o.K
	if self != 0 {
		k++
	}
	var hits []index.Hit
	var err error
	if !o.TakenAfter.IsZero() && !o.TakenBefore.IsZero() && !o.TakenAfter.Before(o.TakenBefore) {
		return nil, fmt.Errorf("taken after %s and before %s: no time is both", o.TakenAfter.Format(time.RFC3339), o.TakenBefore.Format(time.RFC3339))
	}
	match := o.filter()
	if match != nil || o.Exact {
		// The scans below read the stored vectors; the index is loaded
		// first as it always was (a broken snapshot fails the same way).
		if err := e.needIndex(); err != nil {
			return nil, err
		}
	}
	switch {
	case match != nil:
		hits, err = e.filteredSearch(vec, k, match)
	case o.Exact:
		hits, err = e.exactSearch(vec, k)
	default:
		hits, err = e.indexSearch(vec, k, o.Ef)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Match, 0, len(hits))
	for _, h := range hits {
		if h.ID == self || h.Score < o.MinScore {
			continue
		}
		it, ok, err := e.db.Item(h.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // deleted since the index was read
		}
		out = append(out, Match{Rank: len(out) + 1, Score: h.Score, Item: it})
		if len(out) == o.K {
			break
		}
	}
	return out, nil
}

// serverSearcher is a storage whose server searches its own index: a
// PostgreSQL database (pgstore.DB), where the vectors stay.
type serverSearcher interface {
	Search(ctx context.Context, q []float32, k, ef int) ([]index.Hit, error)
	Tuning(ctx context.Context) (index.Tuning, error)
}

// indexSearch is QueryVector's approximate search: on a server database
// (a replica too) through the server's HNSW index at breadth ef, or
// when ef is 0 the one Tune recorded, without loading this process's
// index; otherwise through this process's index.
func (e *Engine) indexSearch(q []float32, k, ef int) ([]index.Hit, error) {
	if s, ok := e.backend().(serverSearcher); ok { // ids and scores: no paths to convert
		ctx := context.Background()
		if ef <= 0 {
			t, err := s.Tuning(ctx)
			if err != nil {
				return nil, err
			}
			ef = t.Ef
		}
		return s.Search(ctx, q, k, ef)
	}
	if err := e.needIndex(); err != nil {
		return nil, err
	}
	return e.idx.Search(q, k, ef)
}

func (e *Engine) queryVector(ctx context.Context, path string) ([]float32, uint64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, 0, fmt.Errorf("query %s: %w", path, err)
	}
	if it, v, err := e.storedVector(abs, st); err != nil || v != nil {
		return v, it.ID, err
	}
	m, err := e.embedder()
	if err != nil {
		return nil, 0, err
	}
	e.release() // embedding takes a while; the database is not needed
	vecs, err := m.Embed(ctx, []string{abs})
	if err != nil {
		return nil, 0, err
	}
	if vecs[0].Err != nil {
		return nil, 0, fmt.Errorf("query %s: %w", path, vecs[0].Err)
	}
	return vecs[0].Vector, 0, nil
}

// storedVector returns the item at abs and its stored vector when the file
// st describes is the one indexed (same size and modification time); a nil
// vector when it is not stored, changed since, or its vector is unreadable
// (the caller embeds the file again).
func (e *Engine) storedVector(abs string, st os.FileInfo) (Item, []float32, error) {
	it, ok, err := e.db.ItemByPath(abs)
	if err != nil || !ok || it.Size != st.Size() || it.ModTime != st.ModTime().UnixNano() {
		return Item{}, nil, err
	}
	v, err := e.db.Vector(it.ID)
	if err != nil {
		return Item{}, nil, nil
	}
	return it, v, nil
}

// filteredSearch scans the stored vectors of the items that match: an
// exact search, so that a filter that keeps few items still finds their k
// nearest (a post-filtered kNN would return fewer, or none).
func (e *Engine) filteredSearch(q []float32, k int, match func(Item) bool) ([]index.Hit, error) {
	want := map[uint64]bool{}
	err := e.db.ForEachItem(func(it Item) error {
		if match(it) {
			want[it.ID] = true
		}
		return nil
	})
	if err != nil || len(want) == 0 {
		return nil, err
	}
	flat := index.NewFlat(len(q))
	err = e.db.ForEachVector(func(id uint64, v []float32) error {
		if !want[id] {
			return nil
		}
		return flat.Add(id, v)
	})
	if err != nil {
		return nil, err
	}
	return flat.Search(q, k, 0)
}

// LabelMatcher returns a test of whether an item has the class label
// among its stored labels: a class id or name, ignoring case; for the
// ImageNet label set, any of a class's names ("Panthera tigris" finds
// n02129604, stored as "tiger").
func LabelMatcher(label string) func(Item) bool {
	label = strings.TrimSpace(label)
	imagenet := map[string]bool{}
	classes := classify.ImageNet()
	for _, i := range classify.FindImageNet(label) {
		imagenet[classes[i].ID] = true
	}
	return func(it Item) bool {
		for _, s := range it.Labels {
			for _, l := range s.Top {
				if strings.EqualFold(l.ID, label) || strings.EqualFold(l.Name, label) ||
					s.Source == model.LabelsImageNet && imagenet[l.ID] {
					return true
				}
			}
		}
		return false
	}
}

// exactSearch scans every stored vector.
func (e *Engine) exactSearch(q []float32, k int) ([]index.Hit, error) {
	flat := index.NewFlat(len(q))
	err := e.db.ForEachVector(func(id uint64, v []float32) error { return flat.Add(id, v) })
	if err != nil {
		return nil, err
	}
	return flat.Search(q, k, 0)
}

// Stats describes the database.
type Stats struct {
	Path        string `json:"path"`
	Items       int    `json:"items"`
	Model       string `json:"model"`
	Random      bool   `json:"random_weights"`
	Pooling     string `json:"pooling"`
	Dims        int    `json:"dims"`
	Fingerprint string `json:"fingerprint"`
	Engine      string `json:"engine"` // what built it: "onednn bf16", "onnxruntime fp32"
	SizeBytes   int64  `json:"size_bytes"`
	IndexParams string `json:"index"`
	IndexLen    int    `json:"index_len"`
	// IndexTuning is the search breadth queries use by default and the
	// recall@10 measured for it; Size 0 means it was never measured.
	IndexTuning index.Tuning `json:"index_tuning"`
	// ServerTuning, on a server database (PostgreSQL), is the
	// hnsw.ef_search its queries and dedup search its own index at, and
	// the recall@10 measured for it (pgstore.DB.Tune); Size 0 means it
	// was never measured.
	ServerTuning *index.Tuning `json:"server_tuning,omitempty"`
	Failures     []Failure     `json:"skipped"`
	// Labels are the most common best classes of the stored items, per
	// label source, most items first (at most TopLabels per source).
	Labels []LabelCount `json:"labels"`
	// Roots count the items under each named root (see Root): those
	// named on this machine and those stored under a name it lacks.
	Roots []RootCount `json:"roots"`
}

// LabelCount is how many items have a class as their best label from one
// source.
type LabelCount struct {
	Source string `json:"source"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Items  int    `json:"items"`
}

// TopLabels is how many classes per source Stats lists.
const TopLabels = 10

// Stats reports what the database holds.
func (e *Engine) Stats() (Stats, error) {
	if err := e.needIndex(); err != nil {
		return Stats{}, err
	}
	m, err := e.db.Meta()
	if err != nil {
		return Stats{}, err
	}
	n, err := e.db.Len()
	if err != nil {
		return Stats{}, err
	}
	size, err := e.db.Size()
	if err != nil {
		return Stats{}, err
	}
	f, err := e.db.Failures()
	if err != nil {
		return Stats{}, err
	}
	sort.Slice(f, func(i, j int) bool { return f[i].Path < f[j].Path })
	rc := e.newRootCounter()
	labels, err := e.labelCounts(rc.add)
	if err != nil {
		return Stats{}, err
	}
	var server *index.Tuning
	if s, ok := e.backend().(serverSearcher); ok {
		t, err := s.Tuning(context.Background())
		if err != nil {
			return Stats{}, err
		}
		server = &t
	}
	name, pooling, _ := strings.Cut(e.label, "/")
	random := false
	if e.model != nil {
		random = e.model.Spec().Random
	} else if en, ok := model.Lookup(name); ok {
		random = en.Spec.Random
	}
	return Stats{
		Path: e.db.Path(), Items: n, Model: name, Random: random, Pooling: pooling,
		Dims: m.Dims, Fingerprint: m.Fingerprint, Engine: e.built, SizeBytes: size, IndexParams: indexParams(e.idx.Options()), IndexLen: e.idx.Len(),
		IndexTuning: e.idx.Tuning(), ServerTuning: server,
		Failures: f, Labels: labels, Roots: rc.counts(),
	}, nil
}

// labelCounts counts the best label of every item, per source; each
// item is also given to also.
func (e *Engine) labelCounts(also func(Item)) ([]LabelCount, error) {
	type key struct{ source, id string }
	counts := map[key]*LabelCount{}
	err := e.db.ForEachItem(func(it Item) error {
		also(it)
		for _, s := range it.Labels {
			if len(s.Top) == 0 {
				continue
			}
			l := s.Top[0]
			k := key{s.Source, l.ID}
			if counts[k] == nil {
				counts[k] = &LabelCount{Source: s.Source, ID: l.ID, Name: l.Name}
			}
			counts[k].Items++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := make([]LabelCount, 0, len(counts))
	for _, c := range counts {
		all = append(all, *c)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Items != b.Items {
			return a.Items > b.Items
		}
		return a.ID < b.ID
	})
	out := make([]LabelCount, 0, len(all))
	per := map[string]int{}
	for _, c := range all {
		if per[c.Source] < TopLabels {
			per[c.Source]++
			out = append(out, c)
		}
	}
	return out, nil
}

func indexParams(o index.HNSWOptions) string {
	return fmt.Sprintf("hnsw M=%d efConstruction=%d efSearch=%d", o.M, o.EfConstruction, o.EfSearch)
}

// ForEachItem calls fn for every stored photo, in id order, until fn
// returns an error.
func (e *Engine) ForEachItem(fn func(Item) error) error {
	defer e.release()
	return e.db.ForEachItem(fn)
}

// Vector returns the stored embedding of item id.
func (e *Engine) Vector(id uint64) ([]float32, error) {
	defer e.release()
	return e.db.Vector(id)
}

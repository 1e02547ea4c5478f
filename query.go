package simsearch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/model"
)

// QueryOptions configure Engine.Query.
type QueryOptions struct {
	K        int     // results wanted; 0 means 10
	Ef       int     // HNSW search breadth; 0 means the index default
	Exact    bool    // brute force over every stored vector instead of HNSW
	MinScore float32 // drop results below this cosine
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
	if o.Exact {
		hits, err = e.exactSearch(vec, k)
	} else {
		hits, err = e.idx.Search(vec, k, o.Ef)
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

func (e *Engine) queryVector(ctx context.Context, path string) ([]float32, uint64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, 0, fmt.Errorf("query %s: %w", path, err)
	}
	if it, ok, err := e.db.ItemByPath(abs); err != nil {
		return nil, 0, err
	} else if ok && it.Size == st.Size() && it.ModTime == st.ModTime().UnixNano() {
		v, err := e.db.Vector(it.ID)
		if err == nil {
			return v, it.ID, nil
		}
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
	Path        string    `json:"path"`
	Items       int       `json:"items"`
	Model       string    `json:"model"`
	Random      bool      `json:"random_weights"`
	Pooling     string    `json:"pooling"`
	Dims        int       `json:"dims"`
	Fingerprint string    `json:"fingerprint"`
	SizeBytes   int64     `json:"size_bytes"`
	IndexParams string    `json:"index"`
	IndexLen    int       `json:"index_len"`
	Failures    []Failure `json:"skipped"`
}

// Stats reports what the database holds.
func (e *Engine) Stats() (Stats, error) {
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
	name, pooling, _ := strings.Cut(e.label, "/")
	random := false
	if e.model != nil {
		random = e.model.Spec().Random
	} else if en, ok := model.Lookup(name); ok {
		random = en.Spec.Random
	}
	return Stats{
		Path: e.db.Path(), Items: n, Model: name, Random: random, Pooling: pooling,
		Dims: m.Dims, Fingerprint: m.Fingerprint, SizeBytes: size, IndexParams: indexParams(e.idx.Options()), IndexLen: e.idx.Len(),
		Failures: f,
	}, nil
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

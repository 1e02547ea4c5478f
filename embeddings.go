package simsearch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Embeddings returns the embedding of each file at paths, in order: the
// stored vector of a file indexed unchanged (same size and modification
// time), else one extracted with the engine's model, all the files to
// extract in one pass. A file that cannot be read or decoded has Err set
// and the rest go on; the error is for the run as a whole (the model not
// installed while a file needs it, ctx done). Training a head and
// evaluating on a set of labelled photos both start here, so that
// photos already indexed cost nothing.
func (e *Engine) Embeddings(ctx context.Context, paths []string) ([]Embedding, error) {
	out := make([]Embedding, len(paths))
	var todo []string
	var at []int
	for i, p := range paths {
		out[i] = Embedding{Seq: i, Path: p}
		abs, err := filepath.Abs(p)
		if err != nil {
			out[i].Err = err
			continue
		}
		st, err := os.Stat(abs)
		if err != nil {
			out[i].Err = err
			continue
		}
		it, v, err := e.storedVector(abs, st)
		if err != nil {
			e.release()
			return nil, err
		}
		if v != nil {
			out[i].Vector = v
			out[i].Info.Width, out[i].Info.Height, out[i].Info.Format = it.Width, it.Height, it.Format
			continue
		}
		todo = append(todo, abs)
		at = append(at, i)
	}
	e.release() // embedding takes a while; the database is not needed
	if len(todo) == 0 {
		return out, nil
	}
	m, err := e.embedder()
	if err != nil {
		return nil, err
	}
	err = m.EmbedFiles(ctx, todo, func(r Embedding) error {
		i := at[r.Seq]
		r.Seq, r.Path = i, paths[i]
		out[i] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	return out, nil
}

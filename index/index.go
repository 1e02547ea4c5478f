package index

import (
	"errors"
	"fmt"
	"io"
)

// Hit is one search result: the caller's id and its cosine similarity to the
// query (the dot product of two L2-normalised vectors).
type Hit struct {
	ID    uint64
	Score float32
}

// Index is a set of fixed-dimension, L2-normalised vectors keyed by uint64
// ids that answers k-nearest-neighbour queries by cosine similarity.
// Implementations are safe for concurrent use.
type Index interface {
	// Add stores v under id; adding an id that is present replaces its vector.
	Add(id uint64, v []float32) error
	// Delete removes id and reports whether it was present.
	Delete(id uint64) bool
	// Search returns up to k hits, best first. ef is the search breadth for
	// approximate indexes (≤ 0 means the index default); exact ones ignore it.
	Search(q []float32, k, ef int) ([]Hit, error)
	// Len is the number of live (not deleted) vectors.
	Len() int
	// Save writes the index in its binary format.
	Save(w io.Writer) error
	// Load replaces the contents of the index with what Save wrote.
	Load(r io.Reader) error
}

// Errors returned by the indexes; test for them with errors.Is.
var (
	// ErrDims means a vector or a saved index has another dimension than
	// the index was constructed with.
	ErrDims = errors.New("dimension mismatch")
	// ErrFormat means the input to Load is not an index of this kind or
	// version.
	ErrFormat = errors.New("unknown index format")
	// ErrCorrupt means the input to Load is truncated or inconsistent.
	ErrCorrupt = errors.New("corrupt index")
)

func checkDims(want int, v []float32) error {
	if len(v) != want || want <= 0 {
		return fmt.Errorf("vector of %d dims, index has %d: %w", len(v), want, ErrDims)
	}
	return nil
}

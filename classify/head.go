package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/simsearch/simsearch/internal/atomicfile"
)

// Head is a softmax classifier on embeddings: the new top of a frozen
// trunk. Its probabilities are softmax(W·x + B) for an embedding x as the
// engine stores it (pooled, centred, L2-normalised), so a head only fits
// the model and pooling it was trained with: Fingerprint records them.
type Head struct {
	Version     int       `json:"version"`     // HeadVersion
	Model       string    `json:"model"`       // the model's name, for messages
	Pooling     string    `json:"pooling"`     // the pooling of the embeddings it was trained on
	Fingerprint string    `json:"fingerprint"` // model.Spec.Fingerprint of that model and pooling
	Dim         int       `json:"dim"`         // embedding length
	Classes     []Class   `json:"classes"`
	W           []float32 `json:"w"` // len(Classes)×Dim, row-major
	B           []float32 `json:"b"` // one per class
}

// HeadVersion is the format of a saved head.
const HeadVersion = 1

// ErrHead means a head file or value is not a usable head.
var ErrHead = errors.New("not a usable classifier head")

// Check reports whether h's shapes agree.
func (h *Head) Check() error {
	switch {
	case h.Version != HeadVersion:
		return fmt.Errorf("%w: format version %d, this simsearch reads %d", ErrHead, h.Version, HeadVersion)
	case len(h.Classes) < 2:
		return fmt.Errorf("%w: %d classes, want at least 2", ErrHead, len(h.Classes))
	case h.Dim <= 0 || len(h.W) != len(h.Classes)*h.Dim || len(h.B) != len(h.Classes):
		return fmt.Errorf("%w: %d classes of dimension %d do not fit %d weights and %d biases",
			ErrHead, len(h.Classes), h.Dim, len(h.W), len(h.B))
	}
	return nil
}

// Predict returns the probability of each class for the embedding x.
func (h *Head) Predict(x []float32) ([]float32, error) {
	if len(x) != h.Dim {
		return nil, fmt.Errorf("%w: an embedding of %d values, the head takes %d", ErrHead, len(x), h.Dim)
	}
	p := make([]float32, len(h.Classes))
	for c := range p {
		w := h.W[c*h.Dim : (c+1)*h.Dim]
		s := h.B[c]
		for i, v := range x {
			s += w[i] * v
		}
		p[c] = s
	}
	Softmax(p, p)
	return p, nil
}

// SaveHead writes h to path as JSON, atomically (a temporary file renamed
// into place).
func SaveHead(path string, h *Head) error {
	if err := h.Check(); err != nil {
		return err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("save head: %w", err)
	}
	return nil
}

// LoadHead reads a head written by SaveHead.
func LoadHead(path string) (*Head, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load head: %w", err)
	}
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("load head %s: %w: %v", path, ErrHead, err)
	}
	if err := h.Check(); err != nil {
		return nil, fmt.Errorf("load head %s: %w", path, err)
	}
	return &h, nil
}

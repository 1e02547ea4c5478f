package simsearch

import (
	"context"
	"errors"
	"fmt"

	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
)

// ErrNoClassifier means the model has no classifier output (Spec.Logits):
// only a head trained on its embeddings can classify with it.
var ErrNoClassifier = errors.New("model has no classifier")

// ErrHeadMismatch means a classifier head was trained on the embeddings
// of another model or pooling than the one it is used with.
var ErrHeadMismatch = errors.New("head was trained on another model's embeddings")

// LabelSet and Label are an item's stored classes (see Item.Labels).
type (
	LabelSet = store.LabelSet
	Label    = store.Label
)

// HeadSource is the LabelSet.Source of a trained head's predictions; the
// model's own classifier stores its class list's name (Spec.Labels, e.g.
// model.LabelsImageNet), or "classifier" when its classes have no names.
const HeadSource = "head"

// LabelTop is how many classes an index run stores per item and source;
// a classifier of fewer than 2×LabelTop classes stores half of them (at
// least one), so that a label still tells items apart: a head of 2
// classes stores the more probable one only.
const LabelTop = 5

// ClassifyOptions configure Model.Classify.
type ClassifyOptions struct {
	Top int // classes per image; 0 means 3
	// Head, when set, classifies with a trained head on each image's
	// embedding instead of the model's own classifier.
	Head *classify.Head
}

// Classification is what a classifier says one image shows.
type Classification struct {
	Path   string                `json:"path"`
	Source string                `json:"source"` // a LabelSet.Source: "imagenet", "head", ...
	Random bool                  `json:"random_weights"`
	Top    []classify.Prediction `json:"top"`
	Err    error                 `json:"-"` // this image could not be used; the others go on
}

// Classifier is how a Model turns one image's embedding and raw scores
// into probabilities of named classes; Model.Classifier makes it.
type Classifier struct {
	source  string
	random  bool
	classes []classify.Class
	head    *classify.Head
	n       int // the model's scores per image, when no head
}

// Classifier returns the model's own classifier, or head's when head is
// not nil. It fails with ErrNoClassifier for a model without a classifier
// output and no head, and with ErrHeadMismatch for a head trained on
// another model or pooling.
func (m *Model) Classifier(head *classify.Head) (*Classifier, error) {
	spec := m.spec
	if head != nil {
		if head.Fingerprint != m.Fingerprint() {
			return nil, fmt.Errorf("%w: it was trained on %s/%s, this is %s", ErrHeadMismatch, head.Model, head.Pooling, m.Label())
		}
		if err := head.Check(); err != nil {
			return nil, err
		}
		return &Classifier{source: HeadSource, random: spec.Random, classes: head.Classes, head: head}, nil
	}
	if spec.Logits == "" {
		return nil, fmt.Errorf("model %s: %w", spec.Name, ErrNoClassifier)
	}
	c := &Classifier{source: spec.Labels, random: spec.Random, n: spec.Classes}
	switch spec.Labels {
	case model.LabelsImageNet:
		if spec.Classes != classify.ImageNetClasses {
			return nil, fmt.Errorf("model %s: %d classes, ImageNet has %d", spec.Name, spec.Classes, classify.ImageNetClasses)
		}
		c.classes = classify.ImageNet()
	case "":
		c.source = "classifier"
		for i := range spec.Classes {
			id := fmt.Sprint(i)
			c.classes = append(c.classes, classify.Class{ID: id, Name: "class " + id})
		}
	default:
		return nil, fmt.Errorf("model %s: unknown class list %q", spec.Name, spec.Labels)
	}
	return c, nil
}

// Source names the classifier as stored labels do (LabelSet.Source).
func (c *Classifier) Source() string { return c.source }

// Random reports whether the model has random weights, so that its
// classes mean nothing.
func (c *Classifier) Random() bool { return c.random }

// Classes is the classifier's class list, in output order.
func (c *Classifier) Classes() []classify.Class { return c.classes }

// Predict returns the k most probable classes of one image, from its
// embedding (a head) or the model's raw scores.
func (c *Classifier) Predict(e Embedding, k int) ([]classify.Prediction, error) {
	var p []float32
	if c.head != nil {
		var err error
		if p, err = c.head.Predict(e.Vector); err != nil {
			return nil, err
		}
	} else {
		if len(e.Scores) != c.n {
			return nil, fmt.Errorf("classify %s: %d scores, the classifier has %d classes", e.Path, len(e.Scores), c.n)
		}
		p = make([]float32, c.n)
		classify.Softmax(p, e.Scores)
	}
	return classify.Top(p, c.classes, k), nil
}

// labels is Predict as an item stores it.
func (c *Classifier) labels(e Embedding) (LabelSet, error) {
	top, err := c.Predict(e, min(LabelTop, max(1, len(c.classes)/2)))
	if err != nil {
		return LabelSet{}, err
	}
	s := LabelSet{Source: c.source, Top: make([]Label, len(top))}
	for i, p := range top {
		s.Top[i] = Label{ID: p.ID, Name: p.Name, Prob: p.Prob}
	}
	return s, nil
}

// Classify returns, for each image file at paths in order, its most
// probable classes, from the same network run that embeds it. A file that
// cannot be used has Err set and the others go on; the error is for the
// run as a whole (no classifier, a head that does not fit, the network).
func (m *Model) Classify(ctx context.Context, paths []string, opts *ClassifyOptions) ([]Classification, error) {
	var o ClassifyOptions
	if opts != nil {
		o = *opts
	}
	if o.Top <= 0 {
		o.Top = 3
	}
	c, err := m.Classifier(o.Head)
	if err != nil {
		return nil, err
	}
	out := make([]Classification, len(paths))
	err = m.EmbedFiles(ctx, paths, func(e Embedding) error {
		r := Classification{Path: e.Path, Source: c.source, Random: c.random, Err: e.Err}
		if e.Err == nil {
			r.Top, r.Err = c.Predict(e, o.Top)
		}
		out[e.Seq] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

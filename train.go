package simsearch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/internal/extractor"
)

// ErrTrainingSet means a folder cannot train a head: it is not a folder,
// it has fewer than two class sub-folders, or a class has no image.
var ErrTrainingSet = errors.New("not a usable training set")

// TrainOptions configure Engine.TrainHead; nil means the defaults of
// classify.TrainOptions (20% held out, λ = classify.DefaultL2, seed 0).
type TrainOptions struct {
	classify.TrainOptions
	// Progress is called as embeddings come in (stored ones at once,
	// extracted ones in chunks), from one goroutine.
	Progress func(done, total int)
}

// TrainReport is what TrainHead found and how well the head does: the
// classify.Report of the fit, with the held-out photos and misses named
// by path.
type TrainReport struct {
	classify.Report
	Data      string      `json:"data"`  // the folder trained on
	Model     string      `json:"model"` // model/pooling of the embeddings
	Random    bool        `json:"random_weights"`
	Images    int         `json:"images"`                     // files embedded
	Skipped   []TrainSkip `json:"skipped"`                    // files found that could not be used
	HeldOut   []string    `json:"held_out_samples,omitempty"` // shadows Report.HeldOut: the same, by path
	Misses    []TrainMiss `json:"misses,omitempty"`           // shadows Report.Misses: the same, by path
	EmbedTime float64     `json:"embed_seconds"`
	FitTime   float64     `json:"fit_seconds"`
	Holdout   float64     `json:"holdout"` // the fraction held out (0 when none)
	Seed      uint64      `json:"seed"`
}

// TrainSkip is a file TrainHead could not use, and why.
type TrainSkip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// TrainMiss is a held-out photo the head predicted wrong.
type TrainMiss struct {
	Path      string  `json:"path"`
	Class     string  `json:"class"`
	Predicted string  `json:"predicted"`
	Prob      float32 `json:"prob"`
}

// trainChunk is how many files one Embeddings call takes, so that
// Progress moves during a long extraction.
const trainChunk = 64

// TrainHead trains a classifier head on the photos under dataDir, one
// sub-folder per class: the folder's name is the class's ID and Name, and
// its image files, at any depth, are its examples (dot-files and
// dot-folders are skipped, as by Index; image files directly in dataDir
// belong to no class and are reported as skipped). Each photo's
// embedding comes from the database when it is indexed unchanged, else it
// is extracted (see Embeddings); a file that cannot be decoded is
// reported in the TrainReport and skipped, and a file that is neither an
// image nor named like one is ignored. A folder with fewer than two
// classes, or a class without an image, is ErrTrainingSet. The head
// records the engine's model, pooling and fingerprint: it only fits
// embeddings of that model.
func (e *Engine) TrainHead(ctx context.Context, dataDir string, opts *TrainOptions) (*classify.Head, TrainReport, error) {
	var o TrainOptions
	if opts != nil {
		o = *opts
	}
	rep := TrainReport{Data: dataDir, Seed: o.Seed, Skipped: []TrainSkip{}}
	m, err := e.embedder()
	if err != nil {
		return nil, rep, err
	}
	rep.Model, rep.Random = m.Label(), m.Spec().Random
	classes, files, of, err := e.trainFiles(ctx, dataDir, &rep)
	if err != nil {
		return nil, rep, err
	}
	start := time.Now()
	embs := make([]Embedding, 0, len(files))
	for i := 0; i < len(files); i += trainChunk {
		r, err := e.Embeddings(ctx, files[i:min(i+trainChunk, len(files))])
		if err != nil {
			return nil, rep, err
		}
		embs = append(embs, r...)
		if o.Progress != nil {
			o.Progress(len(embs), len(files))
		}
	}
	rep.EmbedTime = time.Since(start).Seconds()

	var samples []classify.Sample
	var paths []string
	usable := make([]int, len(classes))
	for i, r := range embs {
		if r.Err != nil {
			if looksLikeImageName(r.Path) || !errors.Is(r.Err, extractor.ErrNotImage) {
				rep.Skipped = append(rep.Skipped, TrainSkip{Path: r.Path, Reason: Reason(r.Err)})
			}
			continue
		}
		samples = append(samples, classify.Sample{Vector: r.Vector, Class: of[i]})
		paths = append(paths, r.Path)
		usable[of[i]]++
	}
	rep.Images = len(samples)
	var none []string
	for c, n := range usable {
		if n == 0 {
			none = append(none, classes[c].ID)
		}
	}
	if len(none) > 0 {
		return nil, rep, fmt.Errorf("%w: no image in class folder %s of %s", ErrTrainingSet, strings.Join(none, ", "), dataDir)
	}

	start = time.Now()
	h, fit, err := classify.Train(samples, classes, &o.TrainOptions)
	if err != nil {
		return nil, rep, err
	}
	rep.FitTime = time.Since(start).Seconds()
	rep.Report = fit
	if rep.Held > 0 {
		rep.Holdout = o.Holdout
		if rep.Holdout == 0 {
			rep.Holdout = classify.DefaultHoldout
		}
	}
	for _, k := range fit.HeldOut {
		rep.HeldOut = append(rep.HeldOut, paths[k])
	}
	for _, miss := range fit.Misses {
		rep.Misses = append(rep.Misses, TrainMiss{Path: paths[miss.Sample], Class: classes[miss.Class].ID,
			Predicted: classes[miss.Predicted].ID, Prob: miss.Prob})
	}
	h.Model, h.Pooling, h.Fingerprint = m.Spec().Name, string(m.Pooling()), m.Fingerprint()
	return h, rep, nil
}

// trainFiles lists the class folders of dataDir and their files; of[i]
// is the class of files[i].
func (e *Engine) trainFiles(ctx context.Context, dataDir string, rep *TrainReport) (classes []classify.Class, files []string, of []int, err error) {
	st, err := os.Stat(dataDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("training data: %w", err)
	}
	if !st.IsDir() {
		return nil, nil, nil, fmt.Errorf("%w: %s is not a folder (want one sub-folder per class)", ErrTrainingSet, dataDir)
	}
	skip := map[string]bool{}
	if a, err := filepath.Abs(e.Path()); err == nil {
		skip[a] = true
	}
	folders, skipped, err := classFolders(ctx, dataDir, skip)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("training data: %w", err)
	}
	rep.Skipped = append(rep.Skipped, skipped...)
	var empty []string
	for _, f := range folders {
		if len(f.files) == 0 {
			empty = append(empty, f.name)
		}
		for _, p := range f.files {
			files = append(files, p)
			of = append(of, len(classes))
		}
		classes = append(classes, classify.Class{ID: f.name, Name: f.name})
	}
	switch {
	case len(classes) < 2:
		names := make([]string, len(classes))
		for i, c := range classes {
			names[i] = c.ID
		}
		return nil, nil, nil, fmt.Errorf("%w: %s has %d class folder%s%s; a classifier needs at least 2, one sub-folder of photos per class",
			ErrTrainingSet, dataDir, len(classes), plural(len(classes)), listed(names))
	case len(empty) > 0:
		return nil, nil, nil, fmt.Errorf("%w: class folder %s of %s is empty", ErrTrainingSet, strings.Join(empty, ", "), dataDir)
	}
	return classes, files, of, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

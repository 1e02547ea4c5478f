package simsearch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/simsearch/simsearch/internal/evaluate"
	"github.com/simsearch/simsearch/internal/quote"
	"github.com/simsearch/simsearch/internal/scoreplot"
	"github.com/simsearch/simsearch/model"
)

// LabelledPath is one photo of an evaluation set and its group: photos
// of one group are what a query by any of them should find, and what
// dedup should pair (copies of one photo, or photos of one class).
type LabelledPath struct {
	Group string
	Path  string
}

// EvalOptions configure Evaluate; nil means k = 1, 5, 10.
type EvalOptions struct {
	Ks []int // cut-offs for precision@k and recall@k
}

// EvalReport is what Evaluate measured on a labelled set, ready for JSON.
// The measures (EvalMetrics) are:
//
//   - retrieval: each photo whose group has another photo is a query
//     against all other photos, ranked by score (ties in set order);
//     mean average precision, and precision and recall of the first k
//     results, precision counting over k even when fewer photos exist.
//     A group of one photo is no query, as it has nothing to find, but
//     its photo is still a distractor in every other ranking.
//   - pairs: every unordered pair, true when both photos share a group;
//     precision, recall and F1 of the pairs at or above each threshold
//     from the lowest score to the highest in steps of 0.01, the one of
//     highest F1 (the middle of a tie), the model's default threshold,
//     and the margin: the lowest true pair's score minus the highest
//     other pair's, positive when a threshold separates them perfectly.
type EvalReport struct {
	Model            string        `json:"model"`
	Pooling          model.Pooling `json:"pooling"`
	Random           bool          `json:"random_weights"`
	DefaultThreshold float32       `json:"default_threshold"`
	Default          ScorePoint    `json:"default"` // the pairs at DefaultThreshold
	Skipped          []EvalSkip    `json:"skipped"` // photos that could not be embedded, left out
	EvalMetrics
}

// EvalMetrics are the measures of an EvalReport (see there).
type EvalMetrics = evaluate.Report

// ScorePoint is the pair precision, recall and F1 at one threshold.
type ScorePoint = evaluate.Point

// ScoredPair names two photos and their score.
type ScoredPair = evaluate.ScoredPair

// EvalSkip is a photo Evaluate left out, with the reason in one line.
type EvalSkip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Evaluate embeds the photos of set (stored vectors for those indexed
// unchanged, the rest extracted in one pass, as Embeddings does) and
// measures how well the engine's vectors find each photo's group. A
// photo that cannot be embedded is left out and listed in Skipped; the
// error is for the run (no model to extract with, ctx done) or for a set
// that cannot be measured (see ValidateSet; no two photos of one group,
// or a single group, after the skips).
func (e *Engine) Evaluate(ctx context.Context, set []LabelledPath, opts *EvalOptions) (*EvalReport, error) {
	if err := ValidateSet(set); err != nil {
		return nil, err
	}
	embs, err := e.Embeddings(ctx, setPaths(set))
	if err != nil {
		return nil, err
	}
	name, pooling, _ := strings.Cut(e.label, "/")
	r := &EvalReport{Model: name, Pooling: model.Pooling(pooling), DefaultThreshold: e.threshold}
	if e.model != nil {
		r.Random = e.model.Spec().Random
	} else if en, ok := model.Lookup(name); ok {
		r.Random = en.Spec.Random
	}
	return r, r.measure(set, embs, opts)
}

// Evaluate is Engine.Evaluate without a database: every photo is
// extracted.
func (m *Model) Evaluate(ctx context.Context, set []LabelledPath, opts *EvalOptions) (*EvalReport, error) {
	if err := ValidateSet(set); err != nil {
		return nil, err
	}
	embs, err := m.Embed(ctx, setPaths(set))
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	s := m.Spec()
	r := &EvalReport{Model: s.Name, Pooling: m.Pooling(), Random: s.Random, DefaultThreshold: s.Threshold}
	return r, r.measure(set, embs, opts)
}

// ValidateSet checks what Evaluate needs before any embedding: photos,
// no empty group or path, no path twice.
func ValidateSet(set []LabelledPath) error {
	if len(set) == 0 {
		return errors.New("evaluate: no photos")
	}
	seen := make(map[string]int, len(set))
	for i, lp := range set {
		if lp.Group == "" || lp.Path == "" {
			return fmt.Errorf("evaluate: photo %d has an empty group or path", i+1)
		}
		key := filepath.Clean(lp.Path)
		if j, ok := seen[key]; ok {
			return fmt.Errorf("evaluate: %s is listed twice (photos %d and %d)", quote.Path(lp.Path), j+1, i+1)
		}
		seen[key] = i
	}
	return nil
}

func setPaths(set []LabelledPath) []string {
	paths := make([]string, len(set))
	for i, lp := range set {
		paths[i] = lp.Path
	}
	return paths
}

// measure fills r's measures from the embeddings of set.
func (r *EvalReport) measure(set []LabelledPath, embs []Embedding, opts *EvalOptions) error {
	o := &evaluate.Options{Thresholds: []float32{r.DefaultThreshold}}
	if opts != nil {
		o.Ks = opts.Ks
	}
	r.Skipped = []EvalSkip{}
	items := make([]evaluate.Item, 0, len(set))
	for i, em := range embs {
		if em.Err != nil {
			r.Skipped = append(r.Skipped, EvalSkip{Path: set[i].Path, Reason: Reason(em.Err)})
			continue
		}
		items = append(items, evaluate.Item{Name: set[i].Path, Group: set[i].Group, Vector: em.Vector})
	}
	m, err := evaluate.Evaluate(items, o)
	if err != nil {
		if len(r.Skipped) > 0 {
			return fmt.Errorf("%w (%d of %d photos skipped)", err, len(r.Skipped), len(set))
		}
		return err
	}
	r.Default = m.At[0]
	m.At = nil // the one extra threshold is Default
	r.EvalMetrics = m
	return nil
}

// PlotFormats are the formats WritePlot writes.
var PlotFormats = scoreplot.Formats

// WritePlot draws the score distributions of true pairs and other pairs,
// with the best threshold and the model's default marked, as format
// ("svg" or "png") to w. The title names the model and says when its
// weights are random.
func (r *EvalReport) WritePlot(w io.Writer, format string) error {
	title := fmt.Sprintf("pair scores, %s/%s", r.Model, r.Pooling)
	if r.Random {
		title += " (random weights)"
	}
	title += fmt.Sprintf(": %d photos, %d groups", r.Photos, r.Groups)
	return scoreplot.Write(w, format, scoreplot.Plot{
		Title:     title,
		Histogram: r.Histogram,
		Marks: []scoreplot.Mark{
			{Label: "best F1", Threshold: r.Best.Threshold},
			{Label: "model default", Threshold: r.DefaultThreshold},
		},
	})
}

// ReadGroups reads an evaluation set as tab-separated lines of group and
// path; a relative path is relative to dir (the list's folder). Blank
// lines and lines starting with # are skipped. name labels errors, which
// give the line number.
func ReadGroups(r io.Reader, name, dir string) ([]LabelledPath, error) {
	var set []LabelledPath
	line := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		group, path, ok := strings.Cut(text, "\t")
		group = strings.TrimSpace(group)
		if !ok || group == "" || path == "" {
			return nil, fmt.Errorf("%s:%d: want group<TAB>path, got %s", name, n, quote.Path(text))
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		key := filepath.Clean(path)
		if prev, ok := line[key]; ok {
			return nil, fmt.Errorf("%s:%d: %s is already on line %d", name, n, quote.Path(path), prev)
		}
		line[key] = n
		set = append(set, LabelledPath{Group: group, Path: path})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%s: no group<TAB>path lines", name)
	}
	return set, nil
}

// ReadGroupsFile is ReadGroups on a file, its paths relative to the
// file's folder.
func ReadGroupsFile(path string) ([]LabelledPath, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadGroups(f, path, filepath.Dir(path))
}

// ClassFolders lists an evaluation set from dir's sub-folders, one group
// per sub-folder named for it: the files in it and its own sub-folders
// (links included: what is not an image is skipped when embedding),
// sorted. Files directly in dir and names starting with a dot are left
// out.
func ClassFolders(dir string) ([]LabelledPath, error) {
	folders, _, err := classFolders(context.Background(), dir, nil)
	if err != nil {
		return nil, err
	}
	var set []LabelledPath
	for _, f := range folders {
		for _, p := range f.files {
			set = append(set, LabelledPath{Group: f.name, Path: p})
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%s: no files in sub-folders (one sub-folder per class)", dir)
	}
	return set, nil
}

// classFolder is one sub-folder of a folder of classes, and the files
// under it.
type classFolder struct {
	name  string
	files []string // absolute, sorted
}

// classFolders lists dir's sub-folders (links to folders too; names
// starting with a dot are left out) and the files walk finds under each,
// skipping the paths in skip. skipped holds, for the caller to report,
// image files directly in dir and what walk could not take.
func classFolders(ctx context.Context, dir string, skip map[string]bool) (folders []classFolder, skipped []TrainSkip, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, en.Name())
		st, err := os.Stat(p) // a link to a folder is a class too
		if err != nil || !st.IsDir() {
			if looksLikeImageName(p) {
				skipped = append(skipped, TrainSkip{Path: p, Reason: "not in a class folder"})
			}
			continue
		}
		found, failed, err := walk(ctx, []string{p}, walkOptions{Skip: skip})
		if err != nil {
			return nil, nil, fmt.Errorf("list class %s: %w", en.Name(), err)
		}
		for _, path := range slices.Sorted(maps.Keys(failed)) {
			skipped = append(skipped, TrainSkip{Path: path, Reason: failed[path]})
		}
		f := classFolder{name: en.Name()}
		for _, w := range found {
			f.files = append(f.files, w.Path)
		}
		folders = append(folders, f)
	}
	return folders, skipped, nil
}

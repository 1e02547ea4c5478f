package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/reference"
	"github.com/simsearch/simsearch/model"
)

// ErrModelNotInstalled is returned when the requested model must be pulled
// first. The CLI adds the command that does it.
var ErrModelNotInstalled = errors.New("model not installed")

// DefaultModel returns the model used when none is named: the pretrained
// vgg16 when it is installed in dir, else vgg16-random.
func DefaultModel(dir string) string {
	if _, err := model.Load(dir, "vgg16"); err == nil {
		return "vgg16"
	}
	return "vgg16-random"
}

// PrepareModel returns the installed model name from dir, ready to run:
// vgg16-random is built offline when missing, and the post-processing
// centres are computed from the embedded reference photos when the spec has
// none. Notices (what was built, that weights are random) go to log.
func PrepareModel(ctx context.Context, rt *extractor.Runtime, dir, name string, threads int, log io.Writer) (model.Spec, error) {
	s, err := model.Load(dir, name)
	if e, ok := model.Lookup(name); err == nil && ok && e.URL == "" && stale(s, e.Spec) {
		// Built by an older simsearch with other settings: rebuilding
		// takes seconds and keeps vectors and defaults consistent.
		fmt.Fprintf(log, "%s in %s was built with older settings; building it again\n", name, dir)
		err = fmt.Errorf("rebuild: %w", model.ErrNotInstalled)
	}
	if errors.Is(err, model.ErrNotInstalled) {
		e, ok := model.Lookup(name)
		switch {
		case !ok:
			return model.Spec{}, fmt.Errorf("model %s: %w (not in the catalog either)", name, ErrModelNotInstalled)
		case e.URL != "":
			return model.Spec{}, fmt.Errorf("model %s: %w", name, ErrModelNotInstalled)
		}
		fmt.Fprintf(log, "building %s in %s (%s)\n", name, dir, model.RandomDescription)
		s, err = model.Pull(ctx, e, dir, &model.PullOptions{Force: true})
	}
	if err != nil {
		return model.Spec{}, err
	}
	if len(s.Center) == 0 {
		fmt.Fprintf(log, "computing %s post-processing centres from %d reference photos\n", name, len(reference.Names()))
		c, err := extractor.ComputeCentres(ctx, rt, s, referenceSources(), threads)
		if err != nil {
			return model.Spec{}, fmt.Errorf("model %s: centres: %w", name, err)
		}
		s.Center = c
		if err := model.SaveSpec(specPath(dir, name), s); err != nil {
			return model.Spec{}, err
		}
		// Reload so the spec is exactly what later runs will see.
		if s, err = model.Load(dir, name); err != nil {
			return model.Spec{}, err
		}
	}
	return s, nil
}

func specPath(dir, name string) string { return filepath.Join(dir, name+".json") }

// referenceSources are the embedded reference photos as extractor inputs.
func referenceSources() []extractor.Source {
	fsys := reference.Photos()
	names := reference.Names()
	sort.Strings(names)
	src := make([]extractor.Source, len(names))
	for i, n := range names {
		src[i] = extractor.Source{Path: "reference/" + n, Decode: func(o *extractor.DecodeOptions) (*extractor.RGB, extractor.Info, error) {
			f, err := fsys.Open(n)
			if err != nil {
				return nil, extractor.Info{}, err
			}
			defer f.Close()
			b, err := io.ReadAll(f)
			if err != nil {
				return nil, extractor.Info{}, err
			}
			return extractor.DecodeBytes(b, o)
		}}
	}
	return src
}

// stale reports whether an offline-built model's installed spec differs
// from what the catalog builds now.
func stale(installed, catalog model.Spec) bool {
	return installed.Pre != catalog.Pre || installed.Pooling != catalog.Pooling || installed.Threshold != catalog.Threshold
}

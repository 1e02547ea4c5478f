package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/model"
)

// exitNoClassifier is classify's exit code when the model has no
// classifier output and no --head was given.
const exitNoClassifier = 4

func classifyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "classify",
		Usage:     "print the most probable classes of each IMAGE (ImageNet with vgg16 or vgg19, or a head from simsearch train)",
		ArgsUsage: "IMAGE|DIR...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "top", Aliases: []string{"k"}, Value: 3, Usage: "classes per image"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table, json or csv"},
			&cli.StringFlag{Name: "head", Usage: "classify with the head in `FILE` (from simsearch train) instead of the model's classifier"},
		},
		Action: func(ctx context.Context, c *cli.Command) error { return e.classify(ctx, c) },
	}
}

// classifyLine is one image in classify's JSON output.
type classifyLine struct {
	Path   string                `json:"path"`
	Model  string                `json:"model"`
	Source string                `json:"source"`
	Random bool                  `json:"random_weights"`
	Top    []classify.Prediction `json:"top,omitempty"`
	Error  string                `json:"error,omitempty"`
}

// loadHead reads --head; a head sets the pooling when --pooling does not.
func loadHead(c *cli.Command, mo *simsearch.ModelOptions) (*classify.Head, error) {
	path := c.String("head")
	if path == "" {
		return nil, nil
	}
	h, err := classify.LoadHead(path)
	if err != nil {
		return nil, err
	}
	if mo.Pooling == "" {
		mo.Pooling = model.Pooling(h.Pooling)
	}
	return h, nil
}

// headHint says what to do about a head that does not fit the model.
func headHint(err error, h *classify.Head) error {
	if errors.Is(err, simsearch.ErrHeadMismatch) {
		return fmt.Errorf("%w\nhint: pass --model %s --pooling %s, or train a head for this model with `simsearch train`", err, h.Model, h.Pooling)
	}
	return err
}

func (e *env) classify(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() == 0 {
		return usagef("classify needs at least one IMAGE")
	}
	format, err := formatFlag(c, "table", "json", "csv")
	if err != nil {
		return err
	}
	if c.Int("top") <= 0 {
		return usagef("--top must be at least 1")
	}
	paths, err := expandArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	mo, err := e.modelOptions(c)
	if err != nil {
		return err
	}
	head, err := loadHead(c, mo)
	if err != nil {
		return err
	}
	m, err := simsearch.PrepareModel(ctx, mo)
	if err != nil {
		return modelHint(err, mo.Name)
	}
	defer m.Close()
	spec := m.Spec()
	res, err := m.Classify(ctx, paths, &simsearch.ClassifyOptions{Top: int(c.Int("top")), Head: head})
	switch {
	case errors.Is(err, simsearch.ErrNoClassifier):
		if ce, ok := model.Lookup(spec.Name); ok && ce.Spec.Labels != "" {
			// A zoo model installed before simsearch recorded classifiers:
			// its file has the classifier, its spec does not say so.
			fmt.Fprintf(e.stderr, "simsearch: model %s was installed by an older simsearch that did not record its classifier; run `simsearch model pull %s --force`\n", spec.Name, spec.Name)
			return exitError(exitNoClassifier)
		}
		fmt.Fprintf(e.stderr, "simsearch: model %s has no classifier; pull vgg16 or vgg19, or use --head FILE from simsearch train\n", spec.Name)
		return exitError(exitNoClassifier)
	case err != nil:
		return headHint(modelHint(err, spec.Name), head)
	}
	switch {
	case spec.Random && head != nil:
		fmt.Fprintf(e.stderr, "model %s: %s; the head's classes hold for copies of its training photos, not for new subjects\n", spec.Name, model.RandomDescription)
	case spec.Random:
		fmt.Fprintf(e.stderr, "model %s: %s; its classes mean nothing\n", spec.Name, model.RandomDescription)
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
			fmt.Fprintf(e.stderr, "skip %s: %s\n", linePath(r.Path), simsearch.Reason(r.Err))
		}
	}
	if err := e.printClassifications(format, spec.Name, res); err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "%d of %d files skipped\n", failed, len(res))
	}
	return nil
}

func (e *env) printClassifications(format, modelName string, res []simsearch.Classification) error {
	switch format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		for _, r := range res {
			l := classifyLine{Path: r.Path, Model: modelName, Source: r.Source, Random: r.Random, Top: r.Top}
			if r.Err != nil {
				l.Error = simsearch.Reason(r.Err)
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		w := csv.NewWriter(e.stdout)
		w.Write([]string{"path", "rank", "id", "name", "prob", "index", "source", "random_weights"})
		for _, r := range res {
			for i, p := range r.Top {
				w.Write([]string{r.Path, strconv.Itoa(i + 1), p.ID, p.Name, strconv.FormatFloat(float64(p.Prob), 'f', 6, 32),
					strconv.Itoa(p.Index), r.Source, strconv.FormatBool(r.Random)})
			}
		}
		w.Flush()
		return w.Error()
	}
	first := true
	for _, r := range res {
		if r.Err != nil {
			continue
		}
		if !first {
			fmt.Fprintln(e.stdout)
		}
		first = false
		note := ""
		switch {
		case r.Random && r.Source == "head":
			note = ", on RANDOM WEIGHTS: copies of its training photos only"
		case r.Random:
			note = ", RANDOM WEIGHTS: meaningless"
		}
		fmt.Fprintf(e.stdout, "%s  (%s %s%s)\n", r.Path, modelName, r.Source, note)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RANK\tPROB\tID\tNAME")
		for i, p := range r.Top {
			fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\n", i+1, p.Prob, p.ID, p.Name)
		}
		tw.Flush()
	}
	return nil
}

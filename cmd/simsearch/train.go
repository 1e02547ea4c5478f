package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/model"
)

func trainCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "train",
		Usage:     "fit a new classifier head (softmax on the embeddings) for your own classes",
		ArgsUsage: "--data DIR",
		Description: "DIR holds one sub-folder per class (the folder's name is the class) with its photos,\n" +
			"at any depth. The embeddings come from the database for indexed photos, the others are\n" +
			"extracted. A stratified, seeded share of each class is held out to measure the head;\n" +
			"a class of one or two photos has none held out at 20%. The head is saved beside the\n" +
			"database as DIR's name + .head.json, or to --out; use it with classify --head.\n\n" +
			"Exit status 1 when DIR is missing or is not a training set (fewer than two class\n" +
			"folders, an empty class, a class of non-images); 2 for a usage mistake.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training `DIR`: one sub-folder of photos per class"},
			&cli.FloatFlag{Name: "holdout", Value: classify.DefaultHoldout, Usage: "fraction of each class held out to measure the head (0: train on all)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the held-out choice and the starting weights"},
			&cli.FloatFlag{Name: "l2", Value: classify.DefaultL2, Usage: "weight decay λ (0: none)"},
			&cli.IntFlag{Name: "max-iter", Value: 500, Usage: "L-BFGS iterations at most"},
			&cli.StringFlag{Name: "out", Usage: "head `FILE` (default: <database folder>/<DIR name>.head.json)"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		}, progressFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error { return e.train(ctx, c) },
	}
}

// headName is the default head file's name: the training folder's name
// (of its absolute path, so that "." is named too) and .head.json.
func headName(data string) string {
	name := "train"
	if abs, err := filepath.Abs(data); err == nil {
		if b := filepath.Base(abs); b != string(filepath.Separator) && b != "." {
			name = b
		}
	}
	return name + ".head.json"
}

// trainOutput is train's JSON: the report and where the head went.
type trainOutput struct {
	simsearch.TrainReport
	Head    string  `json:"head"`
	Seconds float64 `json:"seconds"`
}

func (e *env) train(ctx context.Context, c *cli.Command) error {
	start := time.Now()
	data := c.String("data")
	switch {
	case data == "":
		return usagef("train needs --data DIR (one sub-folder of photos per class)")
	case c.Args().Len() > 0:
		return usagef("train takes no arguments (got %q); name the folder with --data", c.Args().First())
	}
	format, err := formatFlag(c, "table", "json")
	if err != nil {
		return err
	}
	ho := c.Float("holdout")
	if !(ho >= 0 && ho < 1) {
		return usagef("--holdout %v: want a fraction in [0, 1)", ho)
	}
	l2 := c.Float("l2")
	if !(l2 >= 0) {
		return usagef("--l2 %v: want 0 or more", l2)
	}
	if l2 == 0 {
		l2 = -1 // classify: negative is none, 0 the default
	}
	opts := &simsearch.TrainOptions{TrainOptions: classify.TrainOptions{
		Holdout: ho, NoHoldout: ho == 0, L2: l2, Seed: c.Uint64("seed"), MaxIterations: int(c.Int("max-iter")),
	}}
	bar, err := progressFor(c, e.stderr, "embed", "images")
	if err != nil {
		return err
	}

	eng, err := e.openEngine(ctx, c, indexEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	out := c.String("out")
	if out == "" {
		out = filepath.Join(filepath.Dir(eng.Path()), headName(data))
	}
	bar.restart() // the rate is of embedding, not of preparing the model
	opts.Progress = func(done, total int) { bar.set(int64(done), int64(total)) }
	h, rep, err := eng.TrainHead(ctx, data, opts)
	bar.done()
	for _, s := range rep.Skipped {
		fmt.Fprintf(e.stderr, "skip %s: %s\n", linePath(s.Path), s.Reason)
	}
	if err != nil {
		if errors.Is(err, simsearch.ErrTrainingSet) {
			return err
		}
		return modelHint(err, eng.ModelName())
	}
	if err := classify.SaveHead(out, h); err != nil {
		return err
	}
	res := trainOutput{TrainReport: rep, Head: out, Seconds: time.Since(start).Seconds()}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	e.printTrain(res)
	return nil
}

func (e *env) printTrain(r trainOutput) {
	w := e.stdout
	label := r.Model
	if r.Random {
		label += " (" + model.RandomDescription + ")"
	}
	fmt.Fprintf(w, "model     %s\n", label)
	fmt.Fprintf(w, "data      %s: %d classes, %d photos", linePath(r.Data), len(r.Classes), r.Images)
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, ", %d file%s skipped", len(r.Skipped), map[bool]string{true: "s"}[len(r.Skipped) != 1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "fit       %d photos trained on, %d held out", r.Train, r.Held)
	if r.Held > 0 {
		fmt.Fprintf(w, " (%.0f%% of each class, seed %d)", r.Holdout*100, r.Seed)
	}
	fmt.Fprintf(w, "; L2 %g, %d L-BFGS iterations, loss %.4f\n", r.Fit.L2, r.Fit.Iterations, r.Fit.Loss)
	if r.Accuracy != nil {
		fmt.Fprintf(w, "accuracy  %.1f%% held out (%d of %d), %.1f%% on the training photos\n", *r.Accuracy*100, r.Correct, r.Held, r.TrainAcc*100)
	} else {
		fmt.Fprintf(w, "accuracy  %.1f%% on the training photos; nothing held out, so nothing measured\n", r.TrainAcc*100)
	}
	fmt.Fprintf(w, "time      %.2f s in all: embeddings %.2f s, fit %.3f s\n", r.Seconds, r.EmbedTime, r.FitTime)
	fmt.Fprintf(w, "head      %s\n", linePath(r.Head))
	if r.Held > 0 {
		fmt.Fprintln(w, "\nconfusion matrix of the held-out photos (rows: true class, columns: predicted)")
		tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', tabwriter.AlignRight)
		// The class column is padded here: tabwriter aligns every
		// column right, which suits the counts but not the names.
		width := len("CLASS")
		for _, cl := range r.Classes {
			width = max(width, utf8.RuneCountInString(oneLine(cl.Name)))
		}
		fmt.Fprintf(tw, "%*s %-*s\tTRAIN\tHELD\t", len(strconv.Itoa(len(r.Classes))), "", width, "CLASS")
		for i := range r.Classes {
			fmt.Fprintf(tw, "%d\t", i+1)
		}
		fmt.Fprintln(tw)
		for i, cl := range r.Classes {
			fmt.Fprintf(tw, "%*d %-*s\t%d\t%d\t", len(strconv.Itoa(len(r.Classes))), i+1, width, oneLine(cl.Name), cl.Train, cl.Held)
			for _, n := range r.Confusion[i] {
				fmt.Fprintf(tw, "%d\t", n)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	var none []string
	for _, cl := range r.Classes {
		if cl.Held == 0 && r.Held > 0 {
			none = append(none, oneLine(cl.Name))
		}
	}
	if len(none) > 0 {
		fmt.Fprintf(w, "\nnot measured (too few photos to hold one out): %s\n", strings.Join(none, ", "))
	}
	for _, m := range r.Misses {
		fmt.Fprintf(w, "miss %s: %s predicted as %s (p %.2f)\n", linePath(m.Path), oneLine(m.Class), oneLine(m.Predicted), m.Prob)
	}
}

// oneLine is a class name fit for a table cell: quoted when it holds a
// control character (a tab would break the table).
func oneLine(s string) string { return linePath(s) }

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/model"
)

func evalCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "measure retrieval and near-duplicate quality on your own labelled photos",
		Description: "The set comes from --groups FILE, tab-separated lines of group and path (relative paths\n" +
			"are relative to FILE's folder; blank lines and # comments are skipped), or from --classes\n" +
			"DIR, one sub-folder per group. Photos of one group are what a query by any of them should\n" +
			"find, and what dedup should pair: copies of one photo, or photos of one class.\n\n" +
			"Retrieval: each photo is a query against all the others; mAP, and precision and recall of\n" +
			"the first k results. A group of one photo is no query (it has nothing to find) but stays\n" +
			"in every ranking as a distractor. Pairs: precision, recall and F1 of the pairs at or above\n" +
			"each threshold (every 0.01 over the observed scores), the threshold of best F1, the\n" +
			"model's default, and the margin between the lowest true pair and the highest other pair.\n" +
			"Photos indexed unchanged in the database use their stored vectors. Files that cannot be\n" +
			"embedded are listed on stderr and left out.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "groups", Usage: "evaluation set: `FILE` of group<TAB>path lines"},
			&cli.StringFlag{Name: "classes", Usage: "evaluation set: `DIR` with one sub-folder per group"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.StringFlag{Name: "plot", Usage: "write the pair score distributions to `FILE` (.svg or .png)"},
		},
		Action: func(ctx context.Context, c *cli.Command) error { return e.eval(ctx, c) },
	}
}

func (e *env) eval(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() > 0 {
		return usagef("eval takes no arguments (got %q): pass --groups FILE or --classes DIR", c.Args().First())
	}
	groups, classes := c.String("groups"), c.String("classes")
	if (groups == "") == (classes == "") {
		return usagef("eval needs --groups FILE or --classes DIR (one of them)")
	}
	format, err := formatFlag(c, "table", "json")
	if err != nil {
		return err
	}
	plotFile := c.String("plot")
	plotFormat := strings.TrimPrefix(strings.ToLower(filepath.Ext(plotFile)), ".")
	if plotFile != "" && !slices.Contains(simsearch.PlotFormats, plotFormat) {
		return usagef("--plot %s: want a .svg or .png file", linePath(plotFile))
	}
	var set []simsearch.LabelledPath
	if groups != "" {
		set, err = simsearch.ReadGroupsFile(groups)
	} else {
		set, err = simsearch.ClassFolders(classes)
	}
	if err != nil {
		return err
	}
	if err := simsearch.ValidateSet(set); err != nil {
		return err
	}
	r, err := e.evaluate(ctx, c, set)
	if err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(e.stderr, "skip %s: %s\n", linePath(s.Path), s.Reason)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(e.stderr, "%d of %d files skipped\n", len(r.Skipped), len(set))
	}
	if plotFile != "" {
		if err := writePlot(r, plotFile, plotFormat); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "plot written to %s\n", linePath(plotFile))
	}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printEval(e, r)
}

// evaluate prepares the model and measures set, with the database's
// stored vectors when there is a database built with this model.
func (e *env) evaluate(ctx context.Context, c *cli.Command, set []simsearch.LabelledPath) (*simsearch.EvalReport, error) {
	opts, err := e.engineOptions(c, readEngine)
	if err != nil {
		return nil, err
	}
	m, err := simsearch.PrepareModel(ctx, opts.ModelOptions)
	if err != nil {
		return nil, modelHint(err, opts.ModelOptions.Name)
	}
	defer m.Close()
	var r *simsearch.EvalReport
	if st, statErr := os.Stat(opts.DB); statErr == nil && st.Mode().IsRegular() {
		opts.Model = m
		eng, err := simsearch.Open(ctx, opts)
		switch {
		case errors.Is(err, simsearch.ErrModelMismatch):
			fmt.Fprintf(e.stderr, "database %s holds another model's vectors; extracting every photo\n", linePath(opts.DB))
		case err != nil:
			return nil, engineHint(err, opts.ModelOptions.Name, opts.DB)
		default:
			defer eng.Close()
			r, err = eng.Evaluate(ctx, set, nil)
			if err != nil {
				return nil, modelHint(err, m.Spec().Name)
			}
			return r, nil
		}
	}
	// Opening a database says when the model has random weights; without
	// one, say it here.
	if spec := m.Spec(); spec.Random {
		fmt.Fprintf(e.stderr, "model %s: %s\n", spec.Name, model.RandomDescription)
	}
	r, err = m.Evaluate(ctx, set, nil)
	if err != nil {
		return nil, modelHint(err, m.Spec().Name)
	}
	return r, nil
}

func writePlot(r *simsearch.EvalReport, path, format string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WritePlot(f, format); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sweepStep is the spacing of the table's threshold rows; JSON has every
// 0.01.
const sweepStep = 5

func printEval(e *env, r *simsearch.EvalReport) error {
	w := e.stdout
	label := fmt.Sprintf("%s/%s", r.Model, r.Pooling)
	if r.Random {
		label += " (random weights)"
	}
	fmt.Fprintf(w, "model     %s\n", label)
	fmt.Fprintf(w, "photos    %d in %d groups", r.Photos, r.Groups)
	if r.Singletons > 0 {
		fmt.Fprintf(w, " (%d of one photo: distractors, not queries)", r.Singletons)
	}
	fmt.Fprintf(w, "\nqueries   %d, each against all other photos\n\n", r.Queries)

	fmt.Fprintf(w, "retrieval mAP %.3f\n", r.MAP)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "K\tPRECISION@K\tRECALL@K")
	for _, a := range r.AtK {
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\n", a.K, a.Precision, a.Recall)
	}
	tw.Flush()

	fmt.Fprintf(w, "\npairs     %d true (same group), %d other\n", r.TruePairs, r.OtherPairs)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, p := range r.LowestTrue[:min(3, len(r.LowestTrue))] {
		fmt.Fprintf(tw, "%s\t%.3f\t%s ~ %s\n", rowName(i, "lowest true pair"), p.Score, linePath(p.A), linePath(p.B))
	}
	for i, p := range r.HighestOther[:min(3, len(r.HighestOther))] {
		fmt.Fprintf(tw, "%s\t%.3f\t%s ~ %s\n", rowName(i, "highest other pair"), p.Score, linePath(p.A), linePath(p.B))
	}
	verdict := "separable: a threshold between them finds every true pair and nothing else"
	if r.Margin <= 0 {
		verdict = "not separable: every threshold misses true pairs or takes others"
	}
	fmt.Fprintf(tw, "margin\t%+.3f\t%s\n", r.Margin, verdict)
	tw.Flush()

	// The sweep every 0.05, with the best and the default in their place.
	rows := map[float32][]string{}
	var ths []float32
	add := func(p simsearch.ScorePoint, note string) {
		if _, ok := rows[p.Threshold]; !ok {
			ths = append(ths, p.Threshold)
			rows[p.Threshold] = []string{fmt.Sprintf("%.2f\t%.3f\t%.3f\t%.3f", p.Threshold, p.Precision, p.Recall, p.F1)}
		}
		if note != "" {
			rows[p.Threshold] = append(rows[p.Threshold], note)
		}
	}
	for _, p := range r.Sweep {
		if k := int(math.Round(float64(p.Threshold) * 100)); k%sweepStep == 0 {
			add(p, "")
		}
	}
	add(r.Best, "best F1")
	add(r.Default, "model default")
	sort.Slice(ths, func(i, j int) bool { return ths[i] < ths[j] })
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "THRESHOLD\tPRECISION\tRECALL\tF1")
	for _, th := range ths {
		row := rows[th]
		if len(row) > 1 {
			row = []string{row[0], strings.Join(row[1:], ", ")}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// rowName labels the first of a list of rows; the others are indented
// under it.
func rowName(i int, name string) string {
	if i == 0 {
		return name
	}
	return ""
}

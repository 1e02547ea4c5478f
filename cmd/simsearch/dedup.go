package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

func dedupCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "dedup",
		Usage:     "find exact and near-duplicate photos, pick a keeper per group, and act on the copies",
		ArgsUsage: "[PATH...]",
		Description: "With PATHs, they are indexed first (incrementally) and only photos under them are grouped;\n" +
			"without, the whole database is. Every member of a group is within --threshold of its keeper.\n" +
			"Actions other than report are dry runs until --yes. Before each file is touched its content\n" +
			"hash is checked against the database, and the keeper must still exist unchanged; each step\n" +
			"is journalled next to the database first. delete moves files into the trash of their own file\n" +
			"system (the desktop's trash: a file manager can restore them too), never copying them, so\n" +
			"`simsearch dedup undo` can restore them and `simsearch dedup purge` frees the space.\n" +
			"--plan FILE writes what would be done as JSON to review and edit; `dedup apply FILE` does it.",
		Flags: []cli.Flag{
			&cli.FloatFlag{Name: "threshold", Usage: "minimum cosine `S` to the keeper for a near duplicate (0: the model's calibrated value, 0.72 for vgg16-random)"},
			&cli.StringFlag{Name: "keep", Value: string(dedup.Largest), Usage: "keeper `POLICY`: largest (pixels, then bytes), oldest, newest, shortest-path or first-root"},
			&cli.StringFlag{Name: "action", Value: string(dedup.Report), Usage: "`ACTION`: report, move (needs --to), hardlink (exact copies only) or delete (to the trash)"},
			&cli.StringFlag{Name: "to", Usage: "move: destination `DIR` (files keep their path below their root; nothing is overwritten)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "act; without it, only say what would be done"},
			&cli.StringFlag{Name: "plan", Usage: "write the plan for --action to `FILE` (JSON, to review and edit) instead of acting; `dedup apply FILE` carries it out"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: string(dedup.Table), Usage: "report `FORMAT`: table, json, csv or html"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the report to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: "exit-code", Usage: "exit with status 3 when duplicates were found (0 when none)"},
			&cli.BoolFlag{Name: "exact", Usage: "exact copies (same content hash) only"},
			&cli.IntFlag{Name: "k", Value: 16, Usage: "neighbours examined per photo"},
			&cli.IntFlag{Name: "ef", Usage: "HNSW search breadth (higher: misses fewer near-duplicates in very large collections, slower; default from the index)"},
		},
		Commands: []*cli.Command{
			dedupApplyCommand(e),
			dedupUndoCommand(e),
			dedupRunsCommand(e),
			dedupPurgeCommand(e),
		},
		Action: func(ctx context.Context, c *cli.Command) error { return e.dedup(ctx, c) },
	}
}

func (e *env) dedup(ctx context.Context, c *cli.Command) error {
	keep, err := dedup.ParsePolicy(c.String("keep"))
	if err != nil {
		return usagef("--keep: %v", err)
	}
	action, err := dedup.ParseAction(c.String("action"))
	if err != nil {
		return usagef("--action: %v", err)
	}
	format, err := dedup.ParseFormat(c.String("format"))
	if err != nil {
		return usagef("--format: %v", err)
	}
	th := c.Float("threshold")
	if th < 0 || th > 1 {
		return usagef("--threshold %v: must be between 0 and 1", th)
	}
	if action == dedup.Move && c.String("to") == "" {
		return usagef("--action move needs --to DIR")
	}
	if action != dedup.Move && c.String("to") != "" {
		return usagef("--to is for --action move")
	}
	plan := c.String("plan")
	if plan != "" && action == dedup.Report {
		return usagef("--plan needs --action move, delete or hardlink: what the plan proposes for each copy")
	}
	if plan != "" && c.Bool("yes") {
		return usagef("--plan writes a plan and acts on nothing; carry it out with `simsearch dedup apply %s --yes`", plan)
	}
	roots := c.Args().Slice()
	acting := action != dedup.Report && c.Bool("yes")
	mode := readEngine
	switch {
	case len(roots) > 0:
		mode = indexEngine
	case acting:
		mode = writeEngine
	}
	eng, err := e.openEngine(ctx, c, mode)
	if err != nil {
		return err
	}
	defer eng.Close()
	if len(roots) > 0 {
		sum, err := eng.Index(ctx, roots, nil)
		if err != nil {
			return modelHint(err, eng.ModelName())
		}
		fmt.Fprintf(e.stderr, "indexed: %d added, %d updated, %d removed, %d unchanged, %d skipped\n",
			sum.Added, sum.Updated, sum.Removed, sum.Unchanged, len(sum.Skipped))
	}
	groups, err := eng.Duplicates(ctx, roots, &simsearch.DedupOptions{
		Threshold: float32(th), Keep: keep, K: int(c.Int("k")), Ef: int(c.Int("ef")), ExactOnly: c.Bool("exact"),
	})
	if err != nil {
		return err
	}
	if err := e.writeDedupReport(c.String("out"), format, groups); err != nil {
		return err
	}
	act := dedup.ActOptions{Action: action, To: c.String("to"), Roots: roots, HomeTrash: dedup.HomeTrash(e.getenv), Yes: c.Bool("yes")}
	switch {
	case plan != "":
		if err := e.writeDedupPlan(eng, plan, groups, act); err != nil {
			return err
		}
	case action != dedup.Report:
		out, err := eng.ActOnDuplicates(ctx, groups, act, e.stderr)
		if err != nil {
			if len(out.Steps) > 0 {
				e.dedupSummary(out) // what an interrupted run did, and how to undo it
			}
			return err
		}
		e.dedupSummary(out)
	}
	if c.Bool("exit-code") && len(groups) > 0 {
		return exitError(3)
	}
	return nil
}

// writeDedupReport writes the report to the file out, or to standard
// output when out is "".
func (e *env) writeDedupReport(out string, format dedup.Format, groups []dedup.Group) error {
	if out == "" {
		return dedup.WriteReport(e.stdout, format, groups, simsearch.DecodeThumbnail)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = dedup.WriteReport(f, format, groups, simsearch.DecodeThumbnail)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", out, err)
	}
	return nil
}

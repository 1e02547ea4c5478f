package main

import (
	"context"
	"fmt"
	"os"
	"slices"

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
			"--plan FILE writes what would be done as JSON to review and edit; `dedup apply FILE` does it.\n\n" +
			"The keeper of each group is chosen by --keep: rules applied in order, each breaking the ties\n" +
			"of the ones before, then the default rules, then the shorter path. The default keeps the\n" +
			"original of edited copies: most pixels, then the earliest capture (EXIF DateTimeOriginal,\n" +
			"else the file time), then the oldest file, then the most bytes. The report says why each\n" +
			"keeper won. A camera raw file is never removed in favour of its own JPEG. Photos under a\n" +
			"--reference folder are indexed with the PATHs and compared, and are keepers before any\n" +
			"other, but are never moved, linked or deleted.\n\n" +
			"`simsearch dedup ignore` and `dedup keep` record decisions that every later run honours.",
		// A --reference folder may have a comma in its name.
		DisableSliceFlagSeparator: true,
		Flags: append([]cli.Flag{
			&cli.FloatFlag{Name: "threshold", Aliases: []string{"min-score"}, Usage: "minimum cosine `S` to the keeper for a near duplicate (0: the model's calibrated value, 0.72 for vgg16-random)"},
			&cli.FloatFlag{Name: "max-score", Usage: "only pairs scoring below `S` (exact copies score 1, so 1 leaves them out; lower leaves out near-identical re-encodes too)"},
			&cli.StringFlag{Name: "keep", Value: string(dedup.Default), Usage: "keeper `RULES`, comma-separated: pixels, bytes, taken (earliest capture), oldest, newest (file time), " +
				"shortest-path, first-root, format:LIST (e.g. format:raw,heic,png,jpeg), path:GLOB (prefer matching paths; a GLOB without / matches any folder or file name), largest (pixels,bytes)"},
			&cli.StringSliceFlag{Name: "reference", Usage: "reference `DIR` (repeatable): its photos are compared and kept first, never moved, linked or deleted"},
			&cli.StringFlag{Name: "action", Value: string(dedup.Report), Usage: "`ACTION`: report, move (needs --to), hardlink (exact copies only) or delete (to the trash)"},
			&cli.StringFlag{Name: "to", Usage: "move: destination `DIR` (files keep their path below their root; nothing is overwritten)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "act; without it, only say what would be done"},
			&cli.StringFlag{Name: "plan", Usage: "write the plan for --action to `FILE` (JSON, to review and edit) instead of acting; `dedup apply FILE` carries it out"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: string(dedup.Table), Usage: "report `FORMAT`: table, json, csv or html (html needs --out: its thumbnails go in a folder beside it)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the report to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: "exit-code", Usage: "exit with status 3 when duplicates were found (0 when none)"},
			&cli.BoolFlag{Name: "exact", Usage: "exact copies (same content hash) only"},
			&cli.IntFlag{Name: "k", Value: 16, Usage: "neighbours examined per photo"},
			&cli.IntFlag{Name: "ef", Usage: "HNSW search breadth (higher: misses fewer near-duplicates in very large collections, slower; default: the index's tuned breadth, at most 256)"},
		}, append(walkFlags(), progressFlags()...)...),
		Commands: append([]*cli.Command{
			dedupApplyCommand(e),
			dedupUndoCommand(e),
			dedupRunsCommand(e),
			dedupPurgeCommand(e),
		}, decisionCommands(e)...),
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
	if format == dedup.HTML && c.String("out") == "" {
		return usagef("--format html writes its thumbnails to a folder beside the report: add --out FILE")
	}
	th := c.Float("threshold")
	if th < 0 || th > 1 {
		return usagef("--threshold %v: must be between 0 and 1", th)
	}
	maxScore := c.Float("max-score")
	switch {
	case maxScore < 0 || maxScore > 1:
		return usagef("--max-score %v: must be between 0 and 1", maxScore)
	case maxScore > 0 && c.Bool("exact"):
		return usagef("--max-score leaves out exact copies (they score 1); it cannot go with --exact")
	case maxScore > 0 && th > 0 && maxScore <= th:
		return usagef("--max-score %v must be above --threshold %v", maxScore, th)
	}
	refs := c.StringSlice("reference")
	for _, r := range refs {
		if st, err := os.Stat(r); err != nil || !st.IsDir() {
			return usagef("--reference %s: not a folder", r)
		}
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
	var walk simsearch.IndexOptions
	if err := walkOptions(c, &walk); err != nil {
		return err
	}
	bar, err := progressFor(c, e.stderr, "index", "img")
	if err != nil {
		return err
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
		bar.restart() // the rate is of indexing, not of preparing the model
		walk.Progress = func(p simsearch.IndexProgress) { bar.set(int64(p.Done), int64(p.Total)) }
		sum, err := eng.Index(ctx, append(slices.Clip(roots), refs...), &walk)
		bar.done()
		if err != nil {
			return modelHint(err, eng.ModelName())
		}
		fmt.Fprintf(e.stderr, "indexed: %d added, %d updated, %d removed, %d unchanged, %d skipped\n",
			sum.Added, sum.Updated, sum.Removed, sum.Unchanged, len(sum.Skipped))
	}
	res, err := eng.FindDuplicates(ctx, roots, &simsearch.DedupOptions{
		Threshold: float32(th), MaxScore: float32(maxScore), Keep: keep, References: refs,
		K: int(c.Int("k")), Ef: int(c.Int("ef")), ExactOnly: c.Bool("exact"),
	})
	if err != nil {
		return decisionHint(err)
	}
	groups := res.Groups
	if err := e.writeDedupReport(ctx, c, format, groups, dedup.Summary{SetAside: res.SetAside}); err != nil {
		return err
	}
	e.setAsideNote(format, c.String("out"), res.SetAside)
	act := dedup.ActOptions{Action: action, To: c.String("to"), Roots: roots, References: refs, HomeTrash: dedup.HomeTrash(e.getenv), Yes: c.Bool("yes")}
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

// writeDedupReport writes the report to the file --out names, or to
// standard output when there is none.
func (e *env) writeDedupReport(ctx context.Context, c *cli.Command, format dedup.Format, groups []dedup.Group, sum dedup.Summary) error {
	out := c.String("out")
	if format == dedup.HTML {
		bar, err := progressFor(c, e.stderr, "thumbnails", "photos")
		if err != nil {
			return err
		}
		return e.writeHTMLReport(ctx, out, groups, bar)
	}
	if out == "" {
		return dedup.WriteReportSummary(e.stdout, format, groups, sum, simsearch.DecodeThumbnail)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = dedup.WriteReportSummary(f, format, groups, sum, simsearch.DecodeThumbnail)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", out, err)
	}
	return nil
}

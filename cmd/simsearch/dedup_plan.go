package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/atomicfile"
)

// The dedup subcommands that work on plans and on the journal of runs:
// apply, undo, runs and purge.

func dedupApplyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "carry out a plan written by `dedup --plan FILE` (and maybe edited): a dry run until --yes",
		ArgsUsage: "FILE",
		Description: "Each file, and the keeper of its group, must still have the size, modification time and\n" +
			"SHA-256 that the plan records; a file that changed is skipped with the reason and the rest is\n" +
			"done. Files marked protected (under a reference folder) are never touched. Every step is\n" +
			"journalled first; `simsearch dedup undo` reverses the run.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "act; without it, only say what would be done"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "`FORMAT` of what was done: text (on standard error) or json (the steps, on standard output)"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Len() != 1 {
				return usagef("apply takes one plan FILE")
			}
			return e.dedupApply(ctx, c, c.Args().First())
		},
	}
}

func dedupUndoCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "undo",
		Usage:     "reverse a dedup run (the newest by default): moved and deleted files go back, hard links become separate files",
		ArgsUsage: "[RUN]",
		Description: "RUN is a run's id from `simsearch dedup runs` (a unique prefix will do). Runs can be undone\n" +
			"in any order; a file that a newer run moved again is reported and left where it is.",
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Len() > 1 {
				return usagef("undo takes at most one RUN")
			}
			return e.dedupUndo(ctx, c, c.Args().First())
		},
	}
}

func dedupRunsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list the journalled dedup runs: id, time, action, files, bytes and state (done, interrupted, undone, purged)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "`FORMAT`: table or json"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Len() > 0 {
				return usagef("runs takes no arguments")
			}
			return e.dedupRuns(ctx, c)
		},
	}
}

func dedupPurgeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "purge",
		Usage: "empty, for good, the trashed files of delete runs (a dry run until --yes) and say how much space that freed",
		Description: "Only files still in the trash with the content that was deleted are removed, with their\n" +
			".trashinfo. A purged run can no longer be undone.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "older-than", Usage: "only runs at least this `AGE` old: 30d, 12h, 90m (default: every run)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "remove; without it, only say what would be removed"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Len() > 0 {
				return usagef("purge takes no arguments")
			}
			age, err := parseAge(c.String("older-than"))
			if err != nil {
				return usagef("--older-than: %v", err)
			}
			return e.dedupPurge(ctx, c, age)
		},
	}
}

// writeDedupPlan writes the plan for acting on groups to the file path,
// whole or not at all.
func (e *env) writeDedupPlan(eng *engine, path string, groups []dedup.Group, opts dedup.ActOptions) error {
	p, err := eng.PlanDuplicates(groups, opts)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return dedup.WritePlan(w, p) }); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	n := p.Counts()
	fmt.Fprintf(e.stderr, "plan %s: %d groups, %d files to %s; review or edit it, then `simsearch dedup apply %s` (a dry run) and add --yes\n",
		path, len(p.Groups), n[opts.Action], opts.Action, path)
	return nil
}

func (e *env) dedupApply(ctx context.Context, c *cli.Command, path string) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usagef("--format %q: want text or json", format)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	p, err := dedup.ReadPlan(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("plan %s: %w", path, err)
	}
	mode := readEngine
	if c.Bool("yes") {
		mode = writeEngine
	}
	eng, err := e.openEngine(ctx, c, mode)
	if err != nil {
		return err
	}
	defer eng.Close()
	out, err := eng.ApplyPlan(ctx, p, dedup.ApplyOptions{HomeTrash: dedup.HomeTrash(e.getenv), Yes: c.Bool("yes")}, e.stderr)
	if err != nil {
		if len(out.Steps) > 0 {
			e.dedupSummary(out) // what an interrupted run did, and how to undo it
		}
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if out.Steps == nil {
			out.Steps = []dedup.Step{}
		}
		if out.Changed == nil {
			out.Changed = []string{}
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	e.dedupSummary(out)
	return nil
}

// dedupSummary is the last line of a run: what was done or would be.
func (e *env) dedupSummary(out dedup.Outcome) {
	skipped := 0
	for _, s := range out.Steps {
		if s.Skip != "" {
			skipped++
		}
	}
	switch {
	case out.DryRun:
		fmt.Fprintf(e.stderr, "dry run: %d files would be changed, %d skipped; add --yes to act\n", len(out.Steps)-skipped, skipped)
	case len(out.Changed) == 0:
		fmt.Fprintf(e.stderr, "nothing changed, %d skipped\n", len(out.Steps))
	default:
		fmt.Fprintf(e.stderr, "run %s: %d files changed, %d skipped; `simsearch dedup undo %s` reverses it\n", out.RunID, len(out.Changed), len(out.Steps)-len(out.Changed), out.RunID)
	}
}

func (e *env) dedupUndo(ctx context.Context, c *cli.Command, id string) error {
	eng, err := e.openEngine(ctx, c, writeEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	res, err := eng.UndoRun(ctx, id, e.stderr)
	if errors.Is(err, dedup.ErrNoRun) {
		if id != "" {
			return fmt.Errorf("%w\nhint: `simsearch dedup runs` lists the runs", err)
		}
		return fmt.Errorf("%w\nhint: only runs made with --yes are journalled", err)
	}
	if err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("undo %s: %d files restored, %d could not be (listed above); fix them and run undo %s again", res.RunID, len(res.Restored), len(res.Problems), res.RunID)
	}
	fmt.Fprintf(e.stderr, "undid run %s: %d files restored; `simsearch index` adds them back to the database\n", res.RunID, len(res.Restored))
	return nil
}

func (e *env) dedupRuns(ctx context.Context, c *cli.Command) error {
	format := c.String("format")
	if format != "table" && format != "json" {
		return usagef("--format %q: want table or json", format)
	}
	eng, err := e.openEngine(ctx, c, readEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	runs, err := eng.DuplicateRuns()
	if err != nil {
		return err
	}
	if format == "json" {
		if runs == nil {
			runs = []dedup.Run{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Runs []dedup.Run `json:"runs"`
		}{runs})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tACTION\tFILES\tBYTES\tSTATE")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Time.Local().Format("2006-01-02 15:04:05"), r.Action, r.Files, r.Bytes, r.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, plural(len(runs), "run"))
	return nil
}

func (e *env) dedupPurge(ctx context.Context, c *cli.Command, age time.Duration) error {
	mode := readEngine
	if c.Bool("yes") {
		mode = writeEngine // no apply or undo at the same time
	}
	eng, err := e.openEngine(ctx, c, mode)
	if err != nil {
		return err
	}
	defer eng.Close()
	res, err := eng.PurgeTrash(ctx, dedup.PurgeOptions{OlderThan: age, Yes: c.Bool("yes")}, e.stderr)
	if err != nil {
		return err
	}
	if res.DryRun {
		fmt.Fprintf(e.stderr, "dry run: %s, %d files (%d bytes) would be removed from the trash, freeing %s; add --yes to purge\n",
			plural(len(res.Runs), "run"), res.Files, res.Bytes, sizeString(res.Freed))
	} else {
		fmt.Fprintf(e.stderr, "purged %s: %d files (%d bytes) removed from the trash, %s freed\n",
			plural(len(res.Runs), "run"), res.Files, res.Bytes, sizeString(res.Freed))
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("purge: %d files left in the trash (listed above)", len(res.Problems))
	}
	return nil
}

// parseAge reads 30d, 2w, or a Go duration (12h, 90m); "" is 0.
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: want a number of days (30d), weeks (2w), hours (12h) or minutes (90m)", s)
		}
		return time.Duration(n * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a number of days (30d), weeks (2w), hours (12h) or minutes (90m)", s)
	}
	return d, nil
}

// sizeString is n bytes for people: 12.3 MB.
func sizeString(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + strings.Split("B kB MB GB TB", " ")[i]
}

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/classify"
)

func indexCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "index",
		Usage:     "add new and changed photos under PATHs to the database, drop vanished ones",
		ArgsUsage: "PATH... | -",
		Description: "With - as the only PATH, the files to index are read from standard input, one a line\n" +
			"(or NUL-separated with -0, as find -print0 writes them); a listed file that no longer exists\n" +
			"is dropped from the database, and nothing that is not listed is.",
		// A glob may have a comma in it.
		DisableSliceFlagSeparator: true,
		Flags: append(append([]cli.Flag{
			&cli.BoolFlag{Name: "no-prune", Usage: "keep items whose files vanished"},
			&cli.BoolFlag{Name: "hidden", Usage: "include dot-files and dot-directories"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors"},
			&cli.StringFlag{Name: "head", Usage: "also store the top classes of the head in `FILE` (from simsearch train) for each photo embedded"},
			&cli.BoolFlag{Name: "0", Aliases: []string{"null"}, Usage: "index -: the names on standard input are separated by NUL bytes"},
			&cli.BoolFlag{Name: "watch", Usage: "after the first pass, keep following changes under the PATHs (folders) until SIGINT or SIGTERM"},
			&cli.DurationFlag{Name: "rescan", Value: 10 * time.Minute, Usage: "--watch: a full pass this often, for changes the watcher missed (0: never)"},
			&cli.DurationFlag{Name: "settle", Value: time.Second, Usage: "--watch: read a changed file once its size and time have not changed for this long"},
			&cli.DurationFlag{Name: "lease", Value: 30 * time.Second, Usage: "PostgreSQL --db: how long a claim of this run holds unrenewed, so how soon other runs take over the files of one that died"},
		}, walkFlags()...), progressFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error { return e.index(ctx, c) },
	}
}

func (e *env) index(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() == 0 {
		return usagef("index needs at least one PATH")
	}
	roots := c.Args().Slice()
	list := slices.Contains(roots, "-")
	if list && len(roots) > 1 {
		return usagef("index - reads its files from standard input: give no other PATH")
	}
	if c.Bool("watch") && list {
		return usagef("--watch follows folders: it cannot read a list from standard input")
	}
	if c.Bool("watch") && (c.Duration("rescan") < 0 || c.Duration("settle") <= 0) {
		return usagef("--rescan must not be negative and --settle must be positive")
	}
	if c.Bool("0") && !list {
		return usagef("-0 is for index -, which reads NUL-separated names from standard input")
	}
	if c.Duration("lease") <= 0 {
		return usagef("--lease must be positive")
	}
	opts := &simsearch.IndexOptions{NoPrune: c.Bool("no-prune"), Hidden: c.Bool("hidden"), List: list, Lease: c.Duration("lease")}
	if err := walkOptions(c, opts); err != nil {
		return err
	}
	if list {
		var err error
		if roots, err = readList(e.stdin, c.Bool("0")); err != nil {
			return err
		}
		if len(roots) == 0 {
			return usagef("index -: no file names on standard input")
		}
	}
	bar, err := progressFor(c, e.stderr, "index", "img")
	if err != nil {
		return err
	}
	var head *classify.Head
	if path := c.String("head"); path != "" {
		var err error
		if head, err = classify.LoadHead(path); err != nil {
			return err
		}
	}
	eng, err := e.openEngine(ctx, c, indexEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	bar.restart() // the rate is of indexing, not of preparing the model
	opts.Head = head
	opts.Progress = func(p simsearch.IndexProgress) { bar.set(int64(p.Done), int64(p.Total)) }
	if c.Bool("watch") {
		return e.watch(ctx, c, eng, roots, opts, bar)
	}
	sum, err := eng.Index(ctx, roots, opts)
	bar.done()
	if !c.Bool("quiet") || err != nil {
		printIndexSummary(e, sum, ranOn(eng))
	}
	if sum.Interrupted {
		return errors.New("interrupted; everything committed so far is kept, run index again to resume")
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w\nhint: free space on the disk holding %s; everything committed so far is kept, run index again to resume", err, eng.Path())
	}
	if err != nil {
		return headHint(modelHint(err, eng.ModelName()), head)
	}
	return nil
}

// ranOn is " on ENGINE PRECISION" when the run embedded images, for the
// summary line.
func ranOn(eng *engine) string {
	if m, _ := eng.Model(); m != nil {
		if i, ok := m.Engine(); ok {
			return " on " + i.String()
		}
	}
	return ""
}

func printIndexSummary(e *env, s simsearch.IndexSummary, ran string) {
	sort.Slice(s.Skipped, func(i, j int) bool { return s.Skipped[i].Path < s.Skipped[j].Path })
	for _, f := range s.Skipped {
		fmt.Fprintf(e.stderr, "skipped %s: %s\n", linePath(f.Path), f.Reason)
	}
	rate := ""
	if n := s.Added + s.Updated; n > 0 && s.Elapsed > 0 {
		rate = fmt.Sprintf(", %.1f images/s%s", float64(n)/s.Elapsed.Seconds(), ran)
	}
	fmt.Fprintf(e.stderr, "indexed in %s: %d added, %d updated, %d removed, %d unchanged, %d skipped%s\n",
		s.Elapsed.Round(time.Millisecond), s.Added, s.Updated, s.Removed, s.Unchanged, len(s.Skipped), rate)
	if s.Relabelled > 0 {
		fmt.Fprintf(e.stderr, "labelled %d unchanged photos with the head, from their stored embeddings\n", s.Relabelled)
	}
	if s.Refilled > 0 {
		fmt.Fprintf(e.stderr, "read the capture date and camera of %s indexed before simsearch stored them (not embedded again)\n", plural(s.Refilled, "photo"))
	}
}

// watch runs index --watch: the first pass, then changes until ctx ends.
func (e *env) watch(ctx context.Context, c *cli.Command, eng *engine, roots []string, opts *simsearch.IndexOptions, bar *progress) error {
	quiet := c.Bool("quiet")
	wo := &simsearch.WatchOptions{Settle: c.Duration("settle"), Rescan: c.Duration("rescan")}
	if wo.Rescan == 0 {
		wo.Rescan = -1
	}
	cur := bar
	wo.Index = *opts
	wo.Index.Progress = func(p simsearch.IndexProgress) { cur.set(int64(p.Done), int64(p.Total)) }
	wo.Events = func(ev simsearch.WatchEvent) {
		if ev.Err != nil {
			fmt.Fprintf(e.stderr, "watch: %v\n", ev.Err)
			return
		}
		cur.done()
		cur, _ = progressFor(c, e.stderr, "rescan", "img")
		s := ev.Summary
		switch {
		case ev.Pass == simsearch.WatchFirst:
			if !quiet {
				printIndexSummary(e, s, ranOn(eng))
			}
			every := "never"
			if wo.Rescan > 0 {
				every = "every " + wo.Rescan.String()
			}
			fmt.Fprintf(e.stderr, "watching %s for changes (full rescan %s); stop with Ctrl-C\n", plural(len(roots), "path"), every)
			return
		case quiet && len(s.Skipped) == 0:
			return
		case ev.Pass == simsearch.WatchRescan && s.Added+s.Updated+s.Removed+len(s.Skipped) == 0:
			return // nothing was missed
		}
		for _, f := range s.Skipped {
			fmt.Fprintf(e.stderr, "skipped %s: %s\n", linePath(f.Path), f.Reason)
		}
		fmt.Fprintf(e.stderr, "%s %s: %d added, %d updated, %d removed, %d skipped\n", time.Now().Format("15:04:05"), ev.Pass,
			s.Added, s.Updated, s.Removed, len(s.Skipped))
	}
	err := eng.Watch(ctx, roots, wo)
	cur.done()
	if ctx.Err() != nil {
		return errors.New("interrupted; everything committed so far is kept")
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w\nhint: free space on the disk holding %s, or raise fs.inotify.max_user_watches if the watcher ran out", err, eng.Path())
	}
	return headHint(modelHint(err, eng.ModelName()), opts.Head)
}

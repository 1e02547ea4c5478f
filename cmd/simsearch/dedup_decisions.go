package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

// decisionCommands are dedup's ignore, keep, decisions and forget.
func decisionCommands(e *env) []*cli.Command {
	fromFlag := func() cli.Flag {
		return &cli.StringFlag{Name: "from", Usage: "take each GROUP by its number in the JSON report or plan `FILE` (from `simsearch dedup --format json --out FILE`); each group is one decision"}
	}
	decideDescription := "Decisions hold to the files' content (SHA-256), so renaming or moving a file keeps them; an edited file\n" +
		"is a new photo. No later `simsearch dedup` puts two files of one decision in the same group, as keeper and\n" +
		"copy or as two copies. A kept file is, besides, never a copy in any group: it is the keeper of its own,\n" +
		"so copies that no decision names are still found and offered against it.\n" +
		"A folder stands for every indexed photo under it. Files must be indexed and unchanged since."
	return []*cli.Command{
		{
			Name:        "ignore",
			Usage:       "record that files are not duplicates of each other, so no later run groups them together",
			ArgsUsage:   "PATH PATH... | --from FILE GROUP...",
			Description: decideDescription,
			Flags:       []cli.Flag{fromFlag()},
			Action: func(ctx context.Context, c *cli.Command) error {
				return e.decide(ctx, c, simsearch.NotDuplicates)
			},
		},
		{
			Name:        "keep",
			Usage:       "record that files are all to be kept, so no later run offers any of them for action",
			ArgsUsage:   "PATH PATH... | --from FILE GROUP...",
			Description: decideDescription,
			Flags:       []cli.Flag{fromFlag()},
			Action: func(ctx context.Context, c *cli.Command) error {
				return e.decide(ctx, c, simsearch.KeepAll)
			},
		},
		{
			Name:  "decisions",
			Usage: "list the recorded ignore and keep decisions, with the files that hold their content now",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "`FORMAT`: table or json"},
			},
			Action: func(ctx context.Context, c *cli.Command) error {
				if c.Args().Len() > 0 {
					return usagef("decisions takes no arguments; `simsearch dedup forget ID` removes one")
				}
				return e.listDecisions(ctx, c)
			},
		},
		{
			Name:      "forget",
			Usage:     "remove decisions by ID (see `simsearch dedup decisions`): the next run may group their files again",
			ArgsUsage: "ID...",
			Action:    func(ctx context.Context, c *cli.Command) error { return e.forget(ctx, c) },
		},
	}
}

func (e *env) decide(ctx context.Context, c *cli.Command, kind simsearch.DecisionKind) error {
	args, from := c.Args().Slice(), c.String("from")
	var groups []dedup.Group
	var nums []int
	switch {
	case from == "" && len(args) < 2:
		return usagef("%s needs two PATHs or more, or --from FILE GROUP...", kind)
	case from != "" && len(args) == 0:
		return usagef("%s --from %s needs GROUP numbers", kind, from)
	case from != "":
		for _, a := range args {
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 {
				return usagef("GROUP %q: not a group number (they start at 1)", a)
			}
			nums = append(nums, n)
		}
		var err error
		if groups, err = readGroups(from); err != nil {
			return err
		}
		for _, n := range nums {
			if n > len(groups) {
				return fmt.Errorf("group %d: %s has %d groups", n, from, len(groups))
			}
		}
	}
	eng, err := e.openEngine(ctx, c, writeEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	if from == "" {
		var d simsearch.Decision
		if kind == simsearch.KeepAll {
			d, err = eng.KeepAll(args)
		} else {
			d, err = eng.Ignore(args)
		}
		if err != nil {
			return decisionHint(err)
		}
		e.recorded(d)
		return nil
	}
	failed := 0
	for _, n := range nums {
		d, err := eng.DecideGroup(kind, groups[n-1])
		if err != nil {
			fmt.Fprintf(e.stderr, "simsearch: group %d: %v\n", n, err)
			failed++
			continue
		}
		e.recorded(d)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d groups not recorded (said above)\nhint: a file that changed since the report needs `simsearch index` and a new report", failed, len(nums))
	}
	return nil
}

// decisionHint says once what to do about a decision that was refused.
func decisionHint(err error) error {
	switch {
	case errors.Is(err, simsearch.ErrNotIndexed):
		return fmt.Errorf("%w\nhint: decisions hold to the content the database has seen; run `simsearch index` on it first", err)
	case errors.Is(err, simsearch.ErrCorrupt):
		return fmt.Errorf("%w\nhint: run `simsearch check --repair` (it keeps the damaged file)", err)
	}
	return err
}

func (e *env) recorded(d simsearch.Decision) {
	what := "never grouped with each other again"
	if d.Kind == simsearch.KeepAll {
		what = "never offered for action again"
	}
	fmt.Fprintf(e.stdout, "decision %d (%s): %d files, %s; `simsearch dedup forget %d` undoes it\n", d.ID, d.Kind, len(d.Files), what, d.ID)
}

// readGroups reads the groups of a JSON report or plan.
func readGroups(path string) ([]dedup.Group, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r struct {
		Groups []dedup.Group `json:"groups"`
	}
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return nil, fmt.Errorf("read %s: %w (want a report from `simsearch dedup --format json`)", path, err)
	}
	if r.Groups == nil {
		return nil, fmt.Errorf("read %s: no \"groups\" in it (want a report from `simsearch dedup --format json`)", path)
	}
	for i, g := range r.Groups {
		for _, p := range groupPaths(g) {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("read %s: group %d: path %q is not absolute", path, i+1, p)
			}
		}
	}
	return r.Groups, nil
}

func groupPaths(g dedup.Group) []string {
	out := []string{g.Keeper.Path}
	for _, m := range g.Members {
		out = append(out, m.Path)
	}
	return out
}

func (e *env) listDecisions(ctx context.Context, c *cli.Command) error {
	format := c.String("format")
	if format != "table" && format != "json" {
		return usagef("--format %q: table or json", format)
	}
	eng, err := e.openEngine(ctx, c, readEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	ds, err := eng.Decisions()
	if err != nil {
		return decisionHint(err)
	}
	if format == "json" {
		if ds == nil {
			ds = []simsearch.Decision{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Decisions []simsearch.Decision `json:"decisions"`
		}{ds})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tRECORDED\tSHA256\tPATH")
	for _, d := range ds {
		when := d.Recorded.Local().Format("2006-01-02 15:04:05")
		type row struct{ hash, path string }
		var rows []row
		for i, f := range d.Files {
			h := f.Hash.String()[:12]
			switch {
			case len(f.Paths) == 0:
				rows = append(rows, row{h, "(not indexed now; was " + f.Named + ")"})
			case i > 0 && d.Files[i-1].Hash == f.Hash:
				// A hash named twice: its current paths are listed once.
			default:
				for _, p := range f.Paths {
					rows = append(rows, row{h, p})
				}
			}
		}
		slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.path, b.path) })
		for _, r := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", d.ID, d.Kind, when, r.hash, r.path)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%d decisions\n", len(ds))
	return err
}

func (e *env) forget(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() == 0 {
		return usagef("forget needs decision IDs (`simsearch dedup decisions` lists them)")
	}
	var ids []uint64
	for _, a := range c.Args().Slice() {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil || id == 0 {
			return usagef("ID %q: not a decision id", a)
		}
		ids = append(ids, id)
	}
	eng, err := e.openEngine(ctx, c, writeEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	var missing []string
	for _, id := range ids {
		d, err := eng.Forget(id)
		if errors.Is(err, simsearch.ErrNoDecision) {
			missing = append(missing, strconv.FormatUint(id, 10))
			continue
		}
		if err != nil {
			return decisionHint(err)
		}
		fmt.Fprintf(e.stdout, "forgot decision %d (%s, %d files): the next dedup run may group them again\n", d.ID, d.Kind, len(d.Files))
	}
	if len(missing) > 0 {
		return fmt.Errorf("no decision %s\nhint: `simsearch dedup decisions` lists them", strings.Join(missing, ", "))
	}
	return nil
}

// setAsideNote says on stderr how many pairs decisions set aside when the
// report on the terminal does not: the table's summary line says it, CSV
// and HTML have no room for it, and a report written to a file is not in
// view.
func (e *env) setAsideNote(format dedup.Format, out string, n int) {
	if n == 0 || (format == dedup.Table && out == "") {
		return
	}
	pairs := "pairs"
	if n == 1 {
		pairs = "pair"
	}
	fmt.Fprintf(e.stderr, "%d %s set aside by decisions (`simsearch dedup decisions` lists them)\n", n, pairs)
}

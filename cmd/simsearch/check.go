package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
)

func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the database and the index; --repair salvages a damaged file and rebuilds the index",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "repair", Usage: "drop damaged items (index embeds them again) and rebuild the index; copy every sound item out of a damaged file (which is kept)"}},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Bool("repair") {
				return e.repair(ctx, c)
			}
			eng, err := e.openEngine(ctx, c, readEngine)
			if err != nil {
				return err
			}
			defer eng.Close()
			rep, err := eng.Check(false)
			printCheck(e.stdout, &rep)
			if err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%d problems found\nhint: run `simsearch check --repair`", len(rep.Problems))
			}
			fmt.Fprintln(e.stdout, "ok: database and index are consistent")
			return nil
		},
	}
}

// repair is check --repair: simsearch.Repair, which also salvages a file
// too damaged for the engine to open.
func (e *env) repair(ctx context.Context, c *cli.Command) error {
	opts, err := e.engineOptions(c, writeEngine)
	if err != nil {
		return err
	}
	rep, err := simsearch.Repair(ctx, opts)
	printCheck(e.stdout, &rep)
	switch {
	case errors.Is(err, simsearch.ErrUnsalvageable):
		return fmt.Errorf("%w\nhint: not even its structure can be read; move it away and index again", err)
	case err != nil:
		return engineHint(err, opts.ModelOptions.Name, opts.DB)
	case !rep.OK():
		return fmt.Errorf("%d problems are left after the repair\nhint: move the database away and index again", len(rep.Left))
	case len(rep.Problems) == 0:
		fmt.Fprintln(e.stdout, "ok: database and index are consistent")
	case rep.Dropped > 0:
		fmt.Fprintln(e.stdout, "hint: run `simsearch index` on your photo folders to embed the photos of the removed items again")
	}
	return nil
}

// printCheck writes a check's report: the problems found, what the
// repair did, and what it left.
func printCheck(w io.Writer, rep *simsearch.CheckReport) {
	for _, p := range rep.Problems {
		fmt.Fprintln(w, p.Text)
	}
	for _, r := range rep.Repaired {
		fmt.Fprintln(w, "repaired: "+r)
	}
	for _, p := range rep.Left {
		fmt.Fprintln(w, "not repaired: "+p.Text)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/store"
)

func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the database and the index; --repair salvages a damaged file and rebuilds the index",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "repair", Usage: "rebuild the index from the stored vectors; copy every readable item out of a damaged file (which is kept)"}},
		Action: func(ctx context.Context, c *cli.Command) error {
			repair := c.Bool("repair")
			eng, err := e.openEngine(ctx, c, map[bool]engineMode{false: readEngine, true: writeEngine}[repair])
			if err != nil && repair && errors.Is(err, store.ErrCorrupt) {
				// Too damaged for the engine to open (its index could not
				// be read or rebuilt): salvage the file first.
				db, derr := e.dbPath(c)
				if derr != nil {
					return derr
				}
				rep, serr := store.SalvageInPlace(db, c.Duration("lock-timeout"))
				for _, p := range rep.Problems {
					fmt.Fprintln(e.stdout, p)
				}
				if serr != nil {
					return fmt.Errorf("%w\nhint: the database cannot be salvaged; move it away and index again", serr)
				}
				fmt.Fprintln(e.stdout, simsearch.SalvageSummary(rep))
				eng, err = e.openEngine(ctx, c, writeEngine)
			}
			if err != nil {
				return err
			}
			defer eng.Close()
			problems, err := eng.Check(c.Bool("repair"))
			for _, p := range problems {
				fmt.Fprintln(e.stdout, p)
			}
			if err != nil {
				return err
			}
			if len(problems) == 0 {
				fmt.Fprintln(e.stdout, "ok: database and index are consistent")
				return nil
			}
			if !c.Bool("repair") {
				return fmt.Errorf("%d problems found\nhint: run `simsearch check --repair`", len(problems))
			}
			return nil
		},
	}
}

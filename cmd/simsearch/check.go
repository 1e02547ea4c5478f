package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the database and the index; --repair rebuilds the index from the stored vectors",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "repair", Usage: "rebuild what can be rebuilt (the index), never dropping items"}},
		Action: func(ctx context.Context, c *cli.Command) error {
			eng, err := e.openEngine(ctx, c, !c.Bool("repair"))
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

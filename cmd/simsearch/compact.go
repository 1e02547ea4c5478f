package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
)

func compactCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "compact",
		Usage: "rewrite the database to reclaim the space of deleted items",
		Action: func(ctx context.Context, c *cli.Command) error {
			db, err := e.dbPath(c)
			if err != nil {
				return err
			}
			before, after, err := simsearch.Compact(db, c.Duration("lock-timeout"))
			if err != nil {
				return engineHint(err, "", db)
			}
			fmt.Fprintf(e.stderr, "compacted %s: %s → %s\n", db, bytesize(before), bytesize(after))
			return nil
		},
	}
}

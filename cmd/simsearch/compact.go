package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch/store"
)

func compactCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "compact",
		Usage: "rewrite the database to reclaim the space of deleted items",
		Action: func(ctx context.Context, c *cli.Command) error {
			db := c.String("db")
			if db == "" {
				var err error
				if db, err = defaultDB(e.getenv); err != nil {
					return err
				}
			}
			before, err := os.Stat(db)
			if err != nil {
				return fmt.Errorf("compact: %w", err)
			}
			tmp := db + ".compact"
			os.Remove(tmp)
			if err := store.Compact(db, tmp); err != nil {
				os.Remove(tmp)
				return engineHint(err, "", db)
			}
			after, err := os.Stat(tmp)
			if err != nil {
				return err
			}
			if err := os.Rename(tmp, db); err != nil {
				return fmt.Errorf("compact: %w", err)
			}
			fmt.Fprintf(e.stderr, "compacted %s: %s → %s\n", db, bytesize(before.Size()), bytesize(after.Size()))
			return nil
		},
	}
}

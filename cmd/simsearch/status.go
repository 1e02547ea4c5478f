package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
)

func statusCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show how far the index runs sharing a PostgreSQL database are: stored, queued, claimed per worker, failed",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "json", Usage: "short for --format json"},
			lockTimeoutFlag,
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			format, err := formatFlag(c, "table", "json")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				format = "json"
			}
			db, err := e.dbPath(c)
			if err != nil {
				return err
			}
			st, err := simsearch.ReadStatus(db, c.Duration("lock-timeout"))
			if err != nil {
				return engineHint(err, "", db)
			}
			if format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "database\t%s\n", st.Database)
			fmt.Fprintf(tw, "items\t%d\n", st.Items)
			if st.Shared {
				fmt.Fprintf(tw, "queued\t%d\n", st.Queued)
				fmt.Fprintf(tw, "claimed\t%d\n", st.Claimed)
			}
			fmt.Fprintf(tw, "failed\t%d\n", st.Failed)
			if st.Shared {
				fmt.Fprintf(tw, "workers\t%d\n", len(st.Workers))
			}
			tw.Flush()
			if !st.Shared {
				fmt.Fprintln(e.stdout, "(a database file has one index run at a time: queues and workers are for a PostgreSQL --db that several share; simsearch stats says more)")
				return nil
			}
			tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			if len(st.Workers) > 0 {
				fmt.Fprintln(tw, "  worker\tclaimed\tlease left\tstored\trate\tseen")
			}
			now := time.Now()
			for _, w := range st.Workers {
				lease := "-"
				if w.Claimed > 0 {
					lease = w.LeaseLeft.Round(time.Second).String()
				}
				fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%.1f/s\t%s ago\n", w.Name, w.Claimed, lease, w.Stored, w.Rate, now.Sub(w.Seen).Round(time.Second))
			}
			return tw.Flush()
		},
	}
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

func queryCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "rank the indexed photos by similarity to each IMAGE",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "k", Aliases: []string{"n"}, Value: 10, Usage: "number of results"},
			&cli.IntFlag{Name: "ef", Usage: "HNSW search breadth (higher: better recall, slower; default: the one the index chose for recall@10 >= 0.95, see stats)"},
			&cli.BoolFlag{Name: "exact", Usage: "brute-force search over every vector"},
			&cli.FloatFlag{Name: "min-score", Usage: "drop results with cosine below `S`"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table, json, csv or paths (one result path a line, for scripts)"},
			&cli.BoolFlag{Name: "0", Aliases: []string{"null"}, Usage: "--format paths: end each path with a NUL byte instead of a newline (for xargs -0)"},
			&cli.StringFlag{Name: "label", Usage: "only photos labelled `NAME|WNID` (among their top 5 stored classes; a class name or WordNet id, any case)"},
			&cli.StringFlag{Name: "taken-after", Usage: "only photos taken at or after `DATE` (2024-05-01, local midnight, or RFC 3339; EXIF capture time)"},
			&cli.StringFlag{Name: "taken-before", Usage: "only photos taken before `DATE` (2024-05-01, local midnight, or RFC 3339)"},
		},
		Action: func(ctx context.Context, c *cli.Command) error { return e.query(ctx, c) },
	}
}

type queryResult struct {
	Query   string            `json:"query"`
	Results []simsearch.Match `json:"results"`
}

func (e *env) query(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() == 0 {
		return usagef("query needs at least one IMAGE")
	}
	format, err := formatFlag(c, "table", "json", "csv", "paths")
	if err != nil {
		return err
	}
	if c.Bool("0") && format != "paths" {
		return usagef("-0 is for --format paths")
	}
	eng, err := e.openEngine(ctx, c, queryEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	opts := &simsearch.QueryOptions{K: int(c.Int("k")), Ef: int(c.Int("ef")), Exact: c.Bool("exact"), MinScore: float32(c.Float("min-score")), Label: c.String("label")}
	if opts.TakenAfter, err = dateFlag(c, "taken-after"); err != nil {
		return err
	}
	if opts.TakenBefore, err = dateFlag(c, "taken-before"); err != nil {
		return err
	}
	var all []queryResult
	for _, q := range c.Args().Slice() {
		m, err := eng.Query(ctx, q, opts)
		if err != nil {
			return modelHint(err, eng.ModelName())
		}
		if m == nil {
			m = []simsearch.Match{}
		}
		all = append(all, queryResult{Query: q, Results: m})
	}
	switch format {
	case "paths":
		end := "\n"
		if c.Bool("0") {
			end = "\x00"
		}
		for _, r := range all {
			for _, m := range r.Results {
				if _, err := fmt.Fprint(e.stdout, m.Path+end); err != nil {
					return err
				}
			}
		}
		return nil
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	case "csv":
		w := csv.NewWriter(e.stdout)
		w.Write([]string{"query", "rank", "score", "path", "id", "width", "height", "bytes", "format", "taken", "camera_make", "camera_model"})
		for _, r := range all {
			for _, m := range r.Results {
				w.Write([]string{r.Query, strconv.Itoa(m.Rank), strconv.FormatFloat(float64(m.Score), 'f', 4, 32), m.Path,
					strconv.FormatUint(m.ID, 10), strconv.Itoa(m.Width), strconv.Itoa(m.Height), strconv.FormatInt(m.Size, 10),
					m.Format, m.TakenAt, m.Make, m.Model})
			}
		}
		w.Flush()
		return w.Error()
	}
	for i, r := range all {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "%s\n", r.Query)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RANK\tSCORE\tSIZE\tTAKEN\tPATH")
		for _, m := range r.Results {
			fmt.Fprintf(tw, "%d\t%.4f\t%dx%d\t%s\t%s\n", m.Rank, m.Score, m.Width, m.Height, takenCell(m.TakenAt), m.Path)
		}
		if len(r.Results) == 0 {
			fmt.Fprintln(tw, "-\t-\t-\t-\t(no results)")
		}
		tw.Flush()
	}
	return nil
}

// dateFlag parses a --taken-* flag: a day (2024-05-01, midnight local
// time), a local date and time (2024-05-01T10:00:00) or RFC 3339 with a
// zone; the zero time when the flag is not set.
func dateFlag(c *cli.Command, name string) (time.Time, error) {
	s := strings.TrimSpace(c.String(name))
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--%s %s: not a date (2024-05-01, 2024-05-01T10:00:00 or RFC 3339 such as 2024-05-01T10:00:00+02:00)", name, strconv.Quote(s))
}

// takenCell is a capture time for the table, "-" when there is none.
func takenCell(takenAt string) string {
	if takenAt == "" {
		return "-"
	}
	return dedup.TakenText(takenAt)
}

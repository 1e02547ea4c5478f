package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/model"
)

func statsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show what the database holds: count, model, size, index, skipped files",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			eng, err := e.openEngine(ctx, c, readEngine)
			if err != nil {
				return err
			}
			defer eng.Close()
			s, err := eng.Stats()
			if err != nil {
				return err
			}
			// int8 by the model's name, or by what built the database (an
			// int8 model of another name records it).
			isInt8 := simsearch.IsInt8(s.Model) || strings.HasSuffix(s.Engine, "int8")
			precision := e.int8Status(c, s.Model, isInt8)
			if c.String("format") == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(statsOutput{Stats: s, HEIFDecoder: simsearch.HEIFDecoder(), Int8: precision})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			var notes []string
			if isInt8 {
				notes = append(notes, "int8")
			}
			if s.Random {
				notes = append(notes, model.RandomDescription)
			}
			modelNote := ""
			if len(notes) > 0 {
				modelNote = " (" + strings.Join(notes, "; ") + ")"
			}
			fmt.Fprintf(tw, "database\t%s\n", s.Path)
			fmt.Fprintf(tw, "items\t%d\n", s.Items)
			fmt.Fprintf(tw, "model\t%s%s\n", s.Model, modelNote)
			fmt.Fprintf(tw, "pooling\t%s\n", s.Pooling)
			fmt.Fprintf(tw, "dims\t%d\n", s.Dims)
			fmt.Fprintf(tw, "fingerprint\t%s\n", s.Fingerprint)
			fmt.Fprintf(tw, "built with\t%s\n", s.Engine)
			fmt.Fprintf(tw, "size\t%s\n", bytesize(s.SizeBytes))
			fmt.Fprintf(tw, "index\t%s, %d vectors\n", s.IndexParams, s.IndexLen)
			fmt.Fprintf(tw, "search ef\t%s\n", tuningLine(s.IndexTuning.Ef, s.IndexTuning.Recall, s.IndexTuning.Size, s.IndexTuning.Target))
			if t := s.ServerTuning; t != nil {
				fmt.Fprintf(tw, "server ef_search\t%s\n", tuningLine(t.Ef, t.Recall, t.Size, t.Target))
			}
			fmt.Fprintf(tw, "HEIC/AVIF\t%s\n", simsearch.HEIFDecoder())
			fmt.Fprintf(tw, "int8\t%s\n", precision.Why)
			for _, r := range s.Roots {
				if r.Path == "" {
					fmt.Fprintf(tw, "root %s\tnot named here, %s (give --root %s=FOLDER)\n", r.Name, plural(r.Items, "item"), r.Name)
				} else {
					fmt.Fprintf(tw, "root %s\t%s, %s\n", r.Name, linePath(r.Path), plural(r.Items, "item"))
				}
			}
			fmt.Fprintf(tw, "skipped\t%d\n", len(s.Failures))
			tw.Flush()
			for _, f := range s.Failures {
				fmt.Fprintf(e.stdout, "  %s: %s\n", linePath(f.Path), f.Reason)
			}
			printLabelCounts(e, s.Labels, s.Random)
			return nil
		},
	}
}

// statsOutput is stats --format json: the engine's figures, and what
// decodes HEIC and AVIF here and whether the model is int8, as
// --version says them.
type statsOutput struct {
	simsearch.Stats
	HEIFDecoder string     `json:"heif_decoder"`
	Int8        int8Status `json:"int8"`
}

// int8Status says whether the database's model is the int8 variant, and
// why it is or is not, in one line.
type int8Status struct {
	On  bool   `json:"on"`
	Why string `json:"why"`
}

// int8Status says why the database's model is int8 or fp32: --model
// named it, or the database keeps the model it was built with; and what
// a new database gets here (the int8 default: the CPU, SIMSEARCH_INT8).
func (e *env) int8Status(c *cli.Command, model string, isInt8 bool) int8Status {
	st := int8Status{On: isInt8}
	kind := "fp32"
	if st.On {
		kind = "int8"
	}
	if c.String("model") != "" {
		st.Why = fmt.Sprintf("%s (%s) is named by --model", model, kind)
		return st
	}
	st.Why = fmt.Sprintf("%s (%s): the database was built with it and keeps it; int8 here: %s", model, kind, e.int8Line())
	return st
}

// printLabelCounts lists the most common best labels, per source.
func printLabelCounts(e *env, labels []simsearch.LabelCount, random bool) {
	for i := 0; i < len(labels); {
		source := labels[i].Source
		note := ""
		switch {
		case random && source == "head":
			note = " (a head on random weights: copies of its training photos only)"
		case random:
			note = " (random weights: meaningless)"
		}
		fmt.Fprintf(e.stdout, "labels %s, best class of each item%s:\n", source, note)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for ; i < len(labels) && labels[i].Source == source; i++ {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", labels[i].Items, labels[i].ID, labels[i].Name)
		}
		tw.Flush()
	}
}

func rmCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove files (or everything under directories) from the database; the files are not touched",
		ArgsUsage: "PATH...",
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Len() == 0 {
				return usagef("rm needs at least one PATH")
			}
			eng, err := e.openEngine(ctx, c, writeEngine)
			if err != nil {
				return err
			}
			defer eng.Close()
			n, err := eng.Remove(c.Args().Slice())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "removed %d items\n", n)
			return nil
		},
	}
}

// tuningLine says which search breadth queries use and what it was
// measured to give.
func tuningLine(ef int, recall float64, size int, target float64) string {
	if size == 0 {
		return fmt.Sprintf("%d (default; not yet measured: the next index run measures it)", ef)
	}
	return fmt.Sprintf("%d, recall@10 %.3f (target %.2f) measured at %d vectors", ef, recall, target, size)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/model"
)

func embedCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "embed",
		Usage:     "print embeddings as JSON lines (path, dims, vector) for debugging and scripting",
		ArgsUsage: "IMAGE|DIR...",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "batch", Value: 8, Usage: "images per network run"},
			&cli.IntFlag{Name: "workers", Usage: "decoding goroutines (default: one per core)"},
		}, progressFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error { return e.embed(ctx, c) },
	}
}

type embedLine struct {
	Path   string    `json:"path"`
	Model  string    `json:"model"`
	Dims   int       `json:"dims"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Vector []float32 `json:"vector"`
}

// expandArgs lists files: directories contribute their files one level
// deep, sorted; files are taken as given.
func expandArgs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, en := range ents {
			if en.Type().IsRegular() {
				names = append(names, filepath.Join(a, en.Name()))
			}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out, nil
}

func (e *env) embed(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() == 0 {
		return usagef("embed needs at least one image or directory")
	}
	paths, err := expandArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	bar, err := progressFor(c, e.stderr, "embed", "images")
	if err != nil {
		return err
	}
	mo, err := e.modelOptions(c)
	if err != nil {
		return err
	}
	mo.Batch, mo.Workers = int(c.Int("batch")), int(c.Int("workers"))
	m, err := simsearch.PrepareModel(ctx, mo)
	if err != nil {
		return modelHint(err, mo.Name)
	}
	defer m.Close()
	spec := m.Spec()
	if spec.Random {
		fmt.Fprintf(e.stderr, "model %s: %s\n", spec.Name, model.RandomDescription)
	}
	enc := json.NewEncoder(e.stdout)
	failed := 0
	bar.restart() // the rate is of embedding, not of preparing the model
	n := 0
	err = m.EmbedFiles(ctx, paths, func(r simsearch.Embedding) error {
		n++
		bar.set(int64(n), int64(len(paths)))
		if r.Err != nil {
			failed++
			fmt.Fprintf(e.stderr, "skip %s: %s\n", linePath(r.Path), simsearch.Reason(r.Err))
			return nil
		}
		return enc.Encode(embedLine{Path: r.Path, Model: spec.Name, Dims: len(r.Vector), Width: r.Info.Width, Height: r.Info.Height, Vector: r.Vector})
	})
	bar.done()
	if err != nil {
		return modelHint(err, spec.Name)
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "%d of %d files skipped\n", failed, len(paths))
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// formatFlag returns the command's --format when it is one of allowed,
// else a usage error that lists them.
func formatFlag(c *cli.Command, allowed ...string) (string, error) {
	f := c.String("format")
	if slices.Contains(allowed, f) {
		return f, nil
	}
	list := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return "", usagef("unknown --format %q (%s)", f, list)
}

// plural is n and noun, with an s when n is not 1: "1 run", "2 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// exitError carries a non-error exit status such as dedup's 3.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// env is what commands need from the process: streams and environment.
type env struct {
	stdin          io.Reader // index - reads its list of files here
	stdout, stderr io.Writer
	getenv         func(string) string
}

// isTerminal reports whether w is an interactive terminal (progress bars
// are drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	e := &env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	app := &cli.Command{
		Name:  "simsearch",
		Usage: "find similar photos and near-duplicates in a photo collection",
		Description: "simsearch embeds photos with VGG16 (ONNX Runtime), keeps the vectors in one bbolt\n" +
			"database and answers nearest-neighbour queries from an HNSW index.",
		Writer:                stdout,
		ErrWriter:             stderr,
		EnableShellCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Usage: "database `FILE` (default $SIMSEARCH_DB, else $XDG_DATA_HOME/simsearch/simsearch.db)"},
			&cli.GenericFlag{Name: "root", Value: &rootSpecs{}, Usage: "name a folder `NAME=PATH` (repeatable; default $SIMSEARCH_ROOTS, entries separated by ':'): its photos are stored as NAME:path/inside, so machines mounting one share at different paths, or a library moved to another disk, agree on its items"},
			&cli.StringFlag{Name: "read-db", Usage: "query, stats and check read this replica `URL` of a PostgreSQL --db (default $SIMSEARCH_READ_DB), else the primary"},
			&cli.StringFlag{Name: "model", Usage: "model `NAME` (default vgg16 when pulled, else vgg16-random)"},
			&cli.StringFlag{Name: "models-dir", Usage: "model cache `DIR` (default $SIMSEARCH_MODELS, else $XDG_CACHE_HOME/simsearch/models)"},
			lockTimeoutFlag,
			&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime threads (0 = all cores)", Value: 0},
			&cli.StringFlag{Name: "pooling", Usage: "pooling `METHOD`: gap, gem, mac or rmac (default: the model's; a database keeps the one it was built with)"},
			&cli.BoolFlag{Name: "version", Usage: "print the version and exit"},
			&cli.StringFlag{Name: "engine", Usage: "what runs the network: auto, ort (ONNX Runtime) or onednn (default $SIMSEARCH_ENGINE, else auto: oneDNN, in int8 for an int8 model where the CPU has AMX-INT8 or VNNI, in bf16 for a float one where it has AMX-BF16 or AVX512-BF16)"},
			&cli.StringFlag{Name: "precision", Usage: "the network's precision: auto, fp32, bf16 (onednn) or int8 (an int8 model) (default $SIMSEARCH_PRECISION, else auto)"},
		},
		Commands: []*cli.Command{
			indexCommand(e),
			queryCommand(e),
			statsCommand(e),
			statusCommand(e),
			rmCommand(e),
			compactCommand(e),
			checkCommand(e),
			embedCommand(e),
			classifyCommand(e),
			evalCommand(e),
			modelCommand(e),
			dedupCommand(e),
			serveCommand(e),
			trainCommand(e),
			versionCommand(e),
		},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return usageError{err}
		},
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action: func(_ context.Context, c *cli.Command) error {
			if c.Bool("version") {
				return e.version()
			}
			if c.Args().Len() > 0 {
				return usagef("unknown command %q", c.Args().First())
			}
			return cli.ShowRootCommandHelp(c)
		},
	}
	setUsageErrors(app)
	return app.Run(ctx, nullFlag(args))
}

// nullFlag spells -0 (NUL-separated names, as find and xargs write it) as
// --null: the flag parser takes a dash and a digit for a negative number
// and stops parsing flags there. A value of 0 is never written -0.
func nullFlag(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if i > 0 && a == "-0" {
			out[i] = "--null"
		}
	}
	return out
}

// setUsageErrors makes flag mistakes in every subcommand exit with status 2.
func setUsageErrors(c *cli.Command) {
	for _, sub := range c.Commands {
		if sub.OnUsageError == nil {
			sub.OnUsageError = c.OnUsageError
		}
		setUsageErrors(sub)
	}
}

// dataDir is $XDG_DATA_HOME/simsearch, falling back to ~/.local/share.
func defaultDB(getenv func(string) string) (string, error) {
	if p := getenv("SIMSEARCH_DB"); p != "" {
		return p, nil
	}
	base := getenv("XDG_DATA_HOME")
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot place the database: set --db, SIMSEARCH_DB or HOME")
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "simsearch", "simsearch.db"), nil
}

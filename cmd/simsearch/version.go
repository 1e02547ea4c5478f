package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/extractor"
)

func versionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print the version, commit, Go version and the ONNX Runtime found (as --version)",
		Action: func(context.Context, *cli.Command) error { return e.version() },
	}
}

// version prints what a bug report needs. A missing ONNX Runtime is one
// of the answers, not an error: the build is still worth knowing.
func (e *env) version() error {
	b := simsearch.ReadBuild()
	commit := "unknown"
	if b.Commit != "" {
		commit = b.Commit[:min(len(b.Commit), 12)]
	}
	if b.Modified {
		commit += ", modified"
	}
	fmt.Fprintf(e.stdout, "simsearch %s (commit %s)\n", b.Version, commit)
	fmt.Fprintf(e.stdout, "Go: %s %s/%s\n", b.GoVersion, runtime.GOOS, runtime.GOARCH)
	rt, err := extractor.OpenRuntime(&extractor.RuntimeOptions{Getenv: e.getenv})
	if err != nil {
		why := strings.TrimPrefix(oneLine(err.Error()), extractor.ErrNoLibrary.Error()+"; ")
		fmt.Fprintf(e.stdout, "ONNX Runtime: not found (%s)\n", why)
		return nil
	}
	defer rt.Close()
	fmt.Fprintf(e.stdout, "ONNX Runtime: %s (%s)\n", rt.Version(), rt.Library())
	return nil
}

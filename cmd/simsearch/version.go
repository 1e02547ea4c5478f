package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
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
	fmt.Fprintf(e.stdout, "HEIC/AVIF: %s\n", simsearch.HEIFDecoder())
	v, lib, err := simsearch.RuntimeVersion(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stdout, "ONNX Runtime: not found (%v)\n", err)
		return nil
	}
	fmt.Fprintf(e.stdout, "ONNX Runtime: %s (%s)\n", v, lib)
	return nil
}

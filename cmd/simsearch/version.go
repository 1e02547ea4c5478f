package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

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
	fmt.Fprintf(e.stdout, "int8: %s\n", e.int8Line())
	fmt.Fprintf(e.stdout, "engine: %s\n", simsearch.EngineReport(&simsearch.ModelOptions{Engine: e.getenv(simsearch.EngineEnv), Precision: e.getenv(simsearch.PrecisionEnv)}))
	v, lib, err := simsearch.RuntimeVersion(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stdout, "ONNX Runtime: not found (%v)\n", err)
		return nil
	}
	fmt.Fprintf(e.stdout, "ONNX Runtime: %s (%s)\n", v, lib)
	return nil
}

// int8Line says what the CPU offers for int8 and the model a new
// database gets for it.
func (e *env) int8Line() string {
	ch, err := simsearch.NewDatabaseModel(&simsearch.ModelOptions{Getenv: e.getenv})
	if err != nil {
		return err.Error()
	}
	cpu := "no VNNI or AMX on this CPU"
	if len(ch.Features) > 0 {
		cpu = strings.Join(ch.Features, ", ")
	}
	switch {
	case ch.Int8:
		return fmt.Sprintf("%s (new databases get %s; %s=off for fp32)", cpu, ch.Name, simsearch.Int8Env)
	case len(ch.Features) > 0 && e.getenv(simsearch.Int8Env) == "off":
		return fmt.Sprintf("%s, turned off by %s=off (new databases get %s, fp32)", cpu, simsearch.Int8Env, ch.Name)
	case len(ch.Features) > 0:
		return fmt.Sprintf("%s (new databases get %s, fp32: %s-int8 is not installed)", cpu, ch.Name, ch.Name)
	}
	return fmt.Sprintf("%s (new databases get %s, fp32)", cpu, ch.Name)
}

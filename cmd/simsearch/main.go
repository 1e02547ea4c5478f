// Command simsearch finds similar photos and near-duplicates in a photo
// collection. See the README for usage; exit codes:
//
//	0  success (and, with dedup --exit-code, no duplicates)
//	1  error
//	2  usage error (unknown command or flag, missing argument)
//	3  dedup --exit-code found duplicates
//	4  classify: the model has no classifier (and no --head was given)
//	130  interrupted by SIGINT or SIGTERM (what was committed is kept)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(mainExit()) }

// mainExit runs the command line and returns the process exit code.
func mainExit() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args, os.Stdout, os.Stderr, os.Getenv)
	if err != nil && ctx.Err() != nil {
		// Stopped by a signal: the commands have closed the database and
		// the ONNX Runtime session on their way out.
		fmt.Fprintf(os.Stderr, "simsearch: %v\n", err)
		return exitInterrupted
	}
	return exitCode(err)
}

// exitInterrupted is the shell's code for a process stopped by SIGINT.
const exitInterrupted = 130

func exitCode(err error) int {
	var usage usageError
	var code exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "simsearch: %v (see simsearch --help)\n", err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "simsearch: %v\n", err)
		return 1
	}
}

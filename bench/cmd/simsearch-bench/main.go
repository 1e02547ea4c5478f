// Command simsearch-bench measures simsearch end to end and writes a
// Markdown report with the raw figures beside it as JSON. It lives in its
// own module (bench/go.mod), so that the peers it is compared with stay
// out of the library's dependencies, and runs from the repository root,
// where its default paths point:
//
//	make bench-bin    # go -C bench build -o ../bin/simsearch-bench ./cmd/simsearch-bench
//	bin/simsearch-bench -out bench/results
//	bin/simsearch-bench -quick -out bench/results/quick
//
// Rows: extract (ONNX Runtime against the whole pipeline, decode costs,
// the machine's convolution ceiling), engine (the raw trunk on ONNX
// Runtime and oneDNN, fp32 and bf16), index (Flat, HNSW, coder/hnsw,
// hnswlib and faiss when installed), store, dedup and e2e (simsearch
// index on generated photos). -rows picks a subset; -quick runs every row
// on tiny sizes. `make bench` and `make bench-quick` run it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "simsearch-bench: %v\n", err)
		os.Exit(1)
	}
}

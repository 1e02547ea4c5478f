package main

import (
	"fmt"
	"runtime"
	"testing"
)

// TestPipeTables_Bound: the pipeline table puts beside each engine the
// rate its decode and network core-ms allow on this machine's cores, and
// the measured median's fraction of it; an engine without a network
// figure gets neither.
func TestPipeTables_Bound(t *testing.T) {
	p := &pipeRaw{Rounds: 3, Sizes: []pipeSizeFigs{{Size: photoSize{"2MP", 1920, 1080}, Files: 40, FileBytes: 600 << 10, DecodeMS: 15,
		Engines: []pipeEngine{{Engine: "onednn", Precision: "int8", Median: 30, Best: 40, NetworkMS: 25}, {Engine: "onnxruntime", Precision: "int8", Median: 20}}}}}
	rows := p.tables()[0].Rows
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	bound := float64(runtime.NumCPU()) * 1000 / 40
	if got, want := rows[0][7], fmt.Sprintf("%.1f", bound); got != want {
		t.Errorf("bound %s, want %s", got, want)
	}
	if got, want := rows[0][8], fmt.Sprintf("%.2f", 30/bound); got != want {
		t.Errorf("median ÷ bound %s, want %s", got, want)
	}
	if rows[1][7] != "" || rows[1][8] != "" {
		t.Errorf("no network figure, yet bound %q and fraction %q", rows[1][7], rows[1][8])
	}
}

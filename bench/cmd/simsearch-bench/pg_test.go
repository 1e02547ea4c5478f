package main

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"
)

// Without a server the pg row says why in the report and does not fail
// the run.
func TestPgRow_SkipsWithoutServer(t *testing.T) {
	t.Setenv(pgEnv, "")
	t.Setenv("SIMSEARCH_TEST_PG_SKIP", "")
	s, err := pgRow(context.Background(), &bench{cfg: config{quick: true}, log: io.Discard})
	if err != nil {
		t.Fatalf("pg row without a server: %v", err)
	}
	raw := s.Raw.(*pgRaw)
	if raw.Skipped == "" || len(s.Notes) != 1 || !strings.Contains(s.Notes[0], pgEnv) || len(s.Tables) != 0 {
		t.Fatalf("pg row without a server: notes %q, skipped %q, %d tables", s.Notes, raw.Skipped, len(s.Tables))
	}
}

// The pg row's vectors are unit length with one planted copy in ten,
// each closer to its original than the threshold asks.
func TestPgClustered(t *testing.T) {
	vecs, queries, planted := pgClustered(1000, 5)
	if len(vecs) != 1000 || len(queries) != 5 || planted != 100 {
		t.Fatalf("%d vectors, %d queries, %d planted", len(vecs), len(queries), planted)
	}
	for i, v := range vecs {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-4 {
			t.Fatalf("vector %d has length² %v", i, n)
		}
		if isCopy(i) {
			var c float32
			for j := range v {
				c += v[j] * vecs[i-1][j]
			}
			if c < 0.85 {
				t.Errorf("planted copy %d scores %v to its original", i, c)
			}
		}
	}
}

package main

import (
	"strings"
	"testing"
)

// The cold-query table has a column per build, and the goal counts what
// the whole command takes beyond model load and one extraction, which the
// library's first Embed measures.
func TestColdTables_BeforeAndAfter(t *testing.T) {
	before := coldSide{Dir: "bin/before", WholeMS: 900, Parts: queryParts{RuntimeMS: 50, SessionMS: 150, ExtractMS: 400, IndexLoadMS: 250, SearchMS: 1}}
	after := coldSide{Dir: "this checkout", WholeMS: 720, Parts: queryParts{RuntimeMS: 50, SessionMS: 150, ExtractMS: 400, IndexLoadMS: 100, SearchMS: 1}}
	c := &coldRaw{N: 1000, Image: photoSize{"small", 32, 24}, After: after, Before: &before, Engine: engineParts{FirstEmbedMS: 600}}
	var s Section
	coldTables(&s, c)
	tb := s.Tables[0]
	if len(tb.Header) != 3 || !strings.Contains(tb.Header[1], "before") || !strings.Contains(tb.Header[2], "after") {
		t.Fatalf("header %q: want part, before, after", tb.Header)
	}
	last := tb.Rows[len(tb.Rows)-2]
	if last[1] != ms(300) || last[2] != ms(120) {
		t.Fatalf("beyond model load and extraction: %q, want 300 ms before and 120 ms after", last)
	}
	if len(s.Targets) != 1 || !s.Targets[0].Met {
		t.Fatalf("targets %+v: want the 150 ms goal met at 120 ms", s.Targets)
	}
	if !strings.Contains(strings.Join(s.Notes, " "), "index load 2.50×") {
		t.Errorf("notes %q: want the index load ratio 2.50×", s.Notes)
	}
	c.Before, c.After.WholeMS = nil, 800
	s = Section{}
	coldTables(&s, c)
	if len(s.Tables[0].Header) != 2 || s.Targets[0].Met {
		t.Errorf("after only, 200 ms beyond: header %q, target %+v; want one build and the goal missed", s.Tables[0].Header, s.Targets[0])
	}
	// Paired runs: each whole command less its own build's first Embed
	// counts, not the whole command's median less another process's.
	c.After.RestMS = 140
	s = Section{}
	coldTables(&s, c)
	rows := s.Tables[0].Rows
	if row := rows[len(rows)-2]; row[1] != ms(140) || !s.Targets[0].Met {
		t.Errorf("paired difference 140 ms: row %q, target %+v; want 140 ms and the goal met", row, s.Targets[0])
	}
	// Timed inside one process: its own target, beside the CLI's.
	c.After.BeyondMS = 160
	s = Section{}
	coldTables(&s, c)
	rows = s.Tables[0].Rows
	if row := rows[len(rows)-1]; row[1] != ms(160) || len(s.Targets) != 2 || s.Targets[1].Met || !s.Targets[0].Met {
		t.Errorf("160 ms inside one process: row %q, targets %+v; want it missed there and met by the CLI pairs", row, s.Targets)
	}
}

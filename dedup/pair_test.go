package dedup

import (
	"bytes"
	"maps"
	"strings"
	"testing"
)

// A camera raw file and its JPEG (same base name, same folder) share a
// group as keeper and Pair: both kept, the plan keeps the JPEG whatever
// the action, and the reports say pair. A copy of the JPEG elsewhere is
// an ordinary duplicate.
func TestFind_RawJPEGPairBothKept(t *testing.T) {
	t0 := at(2022, 6, 1, 12)
	raw := spec{path: "/cam/IMG_9.NEF", deg: 0, w: 6000, h: 4000, size: 25_000_000, mtime: t0, format: "raw"}
	jpg := spec{path: "/cam/IMG_9.jpg", deg: 1, content: "jpg", w: 6000, h: 4000, size: 8_000_000, mtime: t0 + 1e9, format: "jpeg"}
	heic := spec{path: "/cam/IMG_9.HEIC", deg: 1.5, w: 6000, h: 4000, size: 3_000_000, mtime: t0 + 1e9, format: "heic"}
	backup := spec{path: "/backup/IMG_9.jpg", deg: 1, content: "jpg", w: 6000, h: 4000, size: 8_000_000, mtime: t0 + 2e9, format: "jpeg"}
	g := findOne(t, []spec{raw, jpg, heic, backup}, Options{Keep: "format:jpeg"})
	if g.Keeper.Path != raw.path {
		t.Fatalf("keeper %s, want the raw file", g.Keeper.Path)
	}
	pair := map[string]bool{}
	for _, m := range g.Members {
		pair[m.Path] = m.Pair
	}
	if want := map[string]bool{jpg.path: true, heic.path: true, backup.path: false}; !maps.Equal(pair, want) {
		t.Fatalf("pair marks %v, want %v", pair, want)
	}

	p, err := NewPlan([]Group{g}, &ActOptions{Action: Delete})
	if err != nil {
		t.Fatal(err)
	}
	acts := map[string]Action{}
	for _, f := range p.Groups[0].Members {
		acts[f.Path] = p.memberAction(&f)
	}
	if want := map[string]Action{jpg.path: Keep, heic.path: Keep, backup.path: Delete}; !maps.Equal(acts, want) {
		t.Errorf("plan actions %v, want %v", acts, want)
	}

	var table bytes.Buffer
	if err := WriteReport(&table, Table, []Group{g}, nil); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(table.String(), "\n") {
		isPair := strings.Contains(line, " pair ")
		if strings.HasSuffix(line, jpg.path) && !isPair || strings.HasSuffix(line, backup.path) && isPair {
			t.Errorf("table line %q", line)
		}
	}

	// Without a raw file, no pair.
	g = findOne(t, []spec{jpg, backup}, Options{})
	for _, m := range g.Members {
		if m.Pair {
			t.Errorf("%s marked a pair without a raw file", m.Path)
		}
	}
}

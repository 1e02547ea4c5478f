package dedup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// at returns unix nanoseconds of a local wall-clock time.
func at(year int, month time.Month, day, hour int) int64 {
	return time.Date(year, month, day, hour, 0, 0, 0, time.Local).UnixNano()
}

// findOne groups specs, which must all be near each other, and returns
// the one group.
func findOne(t *testing.T, specs []spec, opts Options) Group {
	t.Helper()
	f := newFixture(t, specs)
	if opts.Threshold == 0 {
		opts.Threshold = 0.99
	}
	groups, err := Find(context.Background(), f.items, f, f.idx, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || len(groups[0].Members) != len(specs)-1 {
		t.Fatalf("groups %q, want one of all %d", layout(groups), len(specs))
	}
	return groups[0]
}

// A photo and three copies: the original (2019, capture date in EXIF), a
// brightened copy made in 2023 that kept the EXIF, a half-size copy
// without EXIF from 2020 and a PNG conversion without EXIF from 2021.
var library = []spec{
	{path: "/lib/2019/IMG_1.jpg", deg: 0, w: 4000, h: 3000, size: 5_000_000, mtime: at(2019, 5, 2, 12), taken: at(2019, 5, 2, 10), format: "jpeg"},
	{path: "/lib/edits/IMG_1-bright.jpg", deg: 1, w: 4000, h: 3000, size: 6_000_000, mtime: at(2023, 1, 1, 9), taken: at(2019, 5, 2, 10), format: "jpeg"},
	{path: "/lib/small/IMG_1.jpg", deg: 2, w: 2000, h: 1500, size: 1_000_000, mtime: at(2020, 1, 1, 9), format: "jpeg"},
	{path: "/lib/IMG_1.png", deg: 3, w: 4000, h: 3000, size: 20_000_000, mtime: at(2021, 1, 1, 9), format: "png"},
}

func TestFind_KeeperRules(t *testing.T) {
	stamp := func(ns int64) string { return time.Unix(0, ns).Local().Format("2006-01-02 15:04:05") }
	tests := []struct {
		keep       Policy
		roots      []string
		want, why  string
		wantReason string
	}{
		// Same pixels (the half-size copy is out), the same capture date
		// (the PNG's file time is later), then the older file.
		{Default, nil, "/lib/2019/IMG_1.jpg", "", "oldest file (" + stamp(at(2019, 5, 2, 12)) + ")"},
		{"", nil, "/lib/2019/IMG_1.jpg", "empty is Default", ""},
		{"pixels", nil, "/lib/2019/IMG_1.jpg", "the default rules break pixels' tie", ""},
		{"bytes", nil, "/lib/IMG_1.png", "", "most bytes (20000000)"},
		{Largest, nil, "/lib/IMG_1.png", "pixels tie, then the biggest file", "most bytes (20000000)"},
		{"taken", nil, "/lib/2019/IMG_1.jpg", "", ""},
		{"oldest", nil, "/lib/2019/IMG_1.jpg", "", ""},
		{"newest", nil, "/lib/edits/IMG_1-bright.jpg", "", "newest file (" + stamp(at(2023, 1, 1, 9)) + ")"},
		{"shortest-path", nil, "/lib/IMG_1.png", "", "shortest path"},
		{"first-root", []string{"/lib/small", "/lib"}, "/lib/small/IMG_1.jpg", "", "under the earliest root given (/lib/small)"},
		{"first-root", []string{"/lib/edits", "/lib/2019"}, "/lib/edits/IMG_1-bright.jpg", "", ""},
		{"format:png,jpeg", nil, "/lib/IMG_1.png", "", "preferred format png"},
		{"format:jpeg", nil, "/lib/2019/IMG_1.jpg", "not in the list counts as last", ""},
		{"format:raw,heic,jpg,png", nil, "/lib/2019/IMG_1.jpg", "jpg is jpeg; no raw or heic here", ""},
		{"path:edits", nil, "/lib/edits/IMG_1-bright.jpg", "a folder name", "path matches edits"},
		{"path:*-bright.jpg", nil, "/lib/edits/IMG_1-bright.jpg", "a file name", ""},
		{"path:/lib/small", nil, "/lib/small/IMG_1.jpg", "an absolute folder", "path matches /lib/small"},
		{"path:/lib/*/IMG_1.jpg", nil, "/lib/2019/IMG_1.jpg", "two match; pixels decide", "most pixels (4000×3000)"},
		{"path:/nowhere/*", nil, "/lib/2019/IMG_1.jpg", "no match leaves the default", ""},
		{"newest,bytes", nil, "/lib/edits/IMG_1-bright.jpg", "", ""},
		{"pixels,newest", nil, "/lib/edits/IMG_1-bright.jpg", "", ""},
		{"bytes,pixels", nil, "/lib/IMG_1.png", "", ""},
		{"format:jpeg,png,newest", nil, "/lib/edits/IMG_1-bright.jpg", "a format list ends at the next rule", ""},
		{" taken , bytes ", nil, "/lib/edits/IMG_1-bright.jpg", "spaces; same capture, then bytes", "most bytes (6000000)"},
	}
	for _, tt := range tests {
		t.Run(string(tt.keep)+"/"+tt.want, func(t *testing.T) {
			g := findOne(t, library, Options{Keep: tt.keep, Roots: tt.roots})
			if g.Keeper.Path != tt.want {
				t.Errorf("keeper %s (%s), want %s %s", g.Keeper.Path, g.KeeperReason, tt.want, tt.why)
			}
			if tt.wantReason != "" && g.KeeperReason != tt.wantReason {
				t.Errorf("keeper reason %q, want %q", g.KeeperReason, tt.wantReason)
			}
			if g.KeeperReason == "" {
				t.Error("no keeper reason")
			}
		})
	}
}

// The reason names the rule that decided against the member ranked next
// to the keeper, with the keeper's value.
func TestFind_KeeperReasons(t *testing.T) {
	stamp := func(ns int64) string { return time.Unix(0, ns).Local().Format("2006-01-02 15:04:05") }
	tests := []struct {
		name  string
		specs []spec
		keep  Policy
		want  string
	}{
		{"pixels", []spec{
			{path: "/p/a.jpg", w: 400, h: 300, format: "jpeg"},
			{path: "/p/b.jpg", deg: 1, w: 200, h: 150, format: "jpeg"},
		}, "", "most pixels (400×300)"},
		{"capture date", []spec{
			{path: "/p/edit.jpg", w: 400, h: 300, taken: at(2020, 1, 1, 8), mtime: at(2019, 1, 1, 1)},
			{path: "/p/first.jpg", deg: 1, w: 400, h: 300, taken: at(2019, 5, 2, 10), mtime: at(2024, 1, 1, 1)},
		}, "", "earliest capture " + stamp(at(2019, 5, 2, 10))},
		{"no capture date: file time, said so", []spec{
			{path: "/p/a.jpg", w: 400, h: 300, mtime: at(2018, 3, 3, 3)},
			{path: "/p/b.jpg", deg: 1, w: 400, h: 300, mtime: at(2019, 1, 1, 1)},
		}, "", "earliest file time " + stamp(at(2018, 3, 3, 3)) + " (no capture date)"},
		{"every rule tied", []spec{
			{path: "/p/b.jpg", content: "x", w: 4, h: 3},
			{path: "/p/a.jpg", content: "x", w: 4, h: 3},
		}, "", "path sorts first (every rule tied)"},
		{"every rule tied, shorter path", []spec{
			{path: "/p/long.jpg", content: "x", w: 4, h: 3},
			{path: "/p/a.jpg", content: "x", w: 4, h: 3},
		}, "", "shorter path (every rule tied)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := findOne(t, tt.specs, Options{Keep: tt.keep})
			if g.KeeperReason != tt.want {
				t.Errorf("keeper %s, reason %q; want %q", g.Keeper.Path, g.KeeperReason, tt.want)
			}
		})
	}
}

// A camera raw file is never the copy removed in favour of its own JPEG
// (or an exact copy of that JPEG), whatever the rules say; a raw file
// without a sibling has no such protection.
func TestFind_RawNeverLosesToItsJPEG(t *testing.T) {
	t0 := at(2022, 6, 1, 12)
	raw := spec{path: "/cam/IMG_9.CR2", deg: 0, w: 6000, h: 4000, size: 25_000_000, mtime: t0, format: "raw"}
	jpg := spec{path: "/cam/IMG_9.JPG", deg: 1, content: "jpg", w: 6000, h: 4000, size: 8_000_000, mtime: t0 + 1e9, format: "jpeg"}
	backup := spec{path: "/backup/IMG_9.JPG", deg: 1, content: "jpg", w: 6000, h: 4000, size: 8_000_000, mtime: t0 + 2e9, format: "jpeg"}
	dng := spec{path: "/cam/IMG_9.dng", deg: 0.5, w: 6000, h: 4000, size: 30_000_000, mtime: t0 + 3e9} // raw by extension only
	tests := []struct {
		name  string
		specs []spec
		keep  Policy
		want  string
	}{
		{"rules prefer the raw anyway", []spec{raw, jpg}, "", "/cam/IMG_9.CR2"},
		{"format:jpeg", []spec{raw, jpg}, "format:jpeg", "/cam/IMG_9.CR2"},
		{"newest", []spec{raw, jpg}, "newest", "/cam/IMG_9.CR2"},
		{"path:*.JPG", []spec{raw, jpg}, "path:*.JPG", "/cam/IMG_9.CR2"},
		{"an exact copy of the JPEG", []spec{raw, jpg, backup}, "newest", "/cam/IMG_9.CR2"},
		{"raw by extension", []spec{dng, jpg}, "format:jpeg", "/cam/IMG_9.dng"},
		{"two raw files of one shot", []spec{raw, dng, jpg}, "format:jpeg,newest", "/cam/IMG_9.dng"},
		{"format:raw wins on its own", []spec{raw, jpg, backup}, "format:raw", "/cam/IMG_9.CR2"},
		// Not a sibling (another name, another folder): the rules decide.
		{"not a sibling: other name", []spec{raw, {path: "/cam/IMG_9-edit.jpg", deg: 1, w: 6000, h: 4000, format: "jpeg"}}, "format:jpeg", "/cam/IMG_9-edit.jpg"},
		{"not a sibling: other folder", []spec{raw, {path: "/out/IMG_9.jpg", deg: 1, w: 6000, h: 4000, format: "jpeg"}}, "format:jpeg", "/out/IMG_9.jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := findOne(t, tt.specs, Options{Keep: tt.keep})
			if g.Keeper.Path != tt.want {
				t.Errorf("keeper %s (%s), want %s", g.Keeper.Path, g.KeeperReason, tt.want)
			}
			for _, m := range g.Members {
				if isRaw(&m.Item) && strings.EqualFold(siblingKey(m.Path), siblingKey(g.Keeper.Path)) && !isRaw(&g.Keeper) {
					t.Errorf("raw %s is a copy of its sibling %s", m.Path, g.Keeper.Path)
				}
			}
		})
	}
	// The reason says why the raw file outranks what the rules preferred.
	g := findOne(t, []spec{raw, jpg}, Options{Keep: "format:jpeg"})
	if want := "camera raw, ranked with its sibling IMG_9.JPG"; g.KeeperReason != want {
		t.Errorf("reason %q, want %q", g.KeeperReason, want)
	}
}

// Files under a reference folder are keepers before any other and are
// marked Protected as members; a group of reference files only is still
// reported.
func TestFind_ReferenceFolders(t *testing.T) {
	specs := []spec{
		{path: "/photos/big.jpg", deg: 0, w: 4000, h: 3000, size: 9},
		{path: "/archive/small.jpg", deg: 1, w: 400, h: 300, size: 1},
		{path: "/archive/sub/other.jpg", deg: 2, w: 400, h: 300, size: 1},
		{path: "/archive2/x.jpg", deg: 60, w: 10, h: 10},
		{path: "/archive2/y.jpg", deg: 61, w: 10, h: 10},
	}
	f := newFixture(t, specs)
	groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.99, References: []string{"/archive", "/archive2/"}})
	if err != nil {
		t.Fatal(err)
	}
	got := layout(groups)
	want := []string{"/archive/small.jpg: /archive/sub/other.jpg(near) /photos/big.jpg(near)", "/archive2/x.jpg: /archive2/y.jpg(near)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %q, want %q", got, want)
	}
	g := groups[0]
	if !g.KeeperProtected || !strings.HasPrefix(g.KeeperReason, "under reference folder /archive") {
		t.Errorf("keeper protected %t, reason %q; want a protected keeper and the reference as the reason", g.KeeperProtected, g.KeeperReason)
	}
	for _, m := range g.Members {
		if want := strings.HasPrefix(m.Path, "/archive/"); m.Protected != want {
			t.Errorf("%s: protected %t, want %t", m.Path, m.Protected, want)
		}
	}
	if g := groups[1]; !g.KeeperProtected || !g.Members[0].Protected {
		t.Errorf("all-reference group: keeper protected %t, member protected %t; want both", g.KeeperProtected, g.Members[0].Protected)
	}
	// A folder whose name only starts like the reference's is not under it.
	f = newFixture(t, []spec{{path: "/archive-old/a.jpg", w: 10, h: 10}, {path: "/p/b.jpg", deg: 1, w: 20, h: 20}})
	groups, err = Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.99, References: []string{"/archive"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Keeper.Path != "/p/b.jpg" || groups[0].KeeperProtected || groups[0].Members[0].Protected {
		t.Errorf("groups %q (%+v): /archive-old is not under /archive", layout(groups), groups)
	}
}

// MaxScore leaves out pairs at or above it: byte-identical copies (score
// 1) and, with them, copies identical in content to the keeper.
func TestFind_MaxScore(t *testing.T) {
	// cos 5° ≈ 0.9962, cos 15° ≈ 0.9659.
	specs := []spec{
		{path: "/p/a.jpg", deg: 0, content: "a", w: 400, h: 300},
		{path: "/p/a-copy.jpg", deg: 0, content: "a", w: 400, h: 300},
		{path: "/p/a-resized.jpg", deg: 15, w: 200, h: 150},
		{path: "/p/a-q95.jpg", deg: 5, w: 400, h: 300},
	}
	tests := []struct {
		max  float32
		want string
	}{
		{0, "[/p/a.jpg: /p/a-copy.jpg(exact) /p/a-q95.jpg(near) /p/a-resized.jpg(near)]"},
		{1, "[/p/a.jpg: /p/a-q95.jpg(near) /p/a-resized.jpg(near)]"},
		{0.99, "[/p/a.jpg: /p/a-resized.jpg(near)]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			f := newFixture(t, specs)
			groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.9, MaxScore: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(layout(groups)); got != tt.want {
				t.Errorf("groups %s, want %s", got, tt.want)
			}
			for _, g := range groups {
				for _, m := range g.Members {
					if tt.max > 0 && m.Score >= tt.max {
						t.Errorf("%s scores %.4f, not below %v", m.Path, m.Score, tt.max)
					}
				}
			}
		})
	}
	f := newFixture(t, specs)
	for _, o := range []Options{
		{Threshold: 0.9, MaxScore: 0.9},
		{Threshold: 0.9, MaxScore: 1.5},
		{Threshold: 0.9, MaxScore: -0.5},
		{NoNear: true, MaxScore: 0.99},
	} {
		if _, err := Find(context.Background(), f.items, f, f.idx, &o); err == nil || !strings.Contains(err.Error(), "max score") {
			t.Errorf("Find(%+v) = %v, want a max score error", o, err)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	good := []string{"pixels", "largest", "pixels,bytes,taken,oldest,newest,shortest-path,first-root",
		"format:raw,heic,png,jpeg", "format:jpg,tif,heif,dng,cr2", "format:raw,pixels", "path:originals",
		"path:/photos/*/best", "path:*.tif,format:png,bytes", " pixels , bytes "}
	for _, s := range good {
		if p, err := ParsePolicy(s); err != nil || p != Policy(s) {
			t.Errorf("ParsePolicy(%q) = %q, %v; want it back", s, p, err)
		}
	}
	bad := []struct{ s, want string }{
		{"biggest", `unknown rule "biggest"`},
		{"pixels,pixles", `unknown rule "pixles"`},
		{"pixels,,bytes", "empty rule"},
		{"pixels,", "empty rule"},
		{"format:", `unknown format ""`},
		{"format:png,bogus", `unknown rule or format "bogus"`},
		{"format:gifs", `unknown format "gifs"`},
		{"colour:red", `unknown rule "colour:red"`},
		{"path:", "needs a pattern"},
		{"path:[", "syntax error in pattern"},
		{"path:photos/*", "must be absolute"},
	}
	for _, tt := range bad {
		_, err := ParsePolicy(tt.s)
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePolicy(%q) = %v; want ErrPolicy saying %s", tt.s, err, tt.want)
		}
	}
	if _, err := Find(context.Background(), nil, nil, nil, &Options{NoNear: true, Keep: "pixles"}); !errors.Is(err, ErrPolicy) {
		t.Errorf("Find with a bad policy: %v, want ErrPolicy", err)
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"originals", "/photos/originals/2019/a.jpg", true},
		{"originals", "/photos/originals-old/a.jpg", false},
		{"*.tif", "/photos/a.tif", true},
		{"*.tif", "/photos/a.tiff", false},
		{"2019*", "/photos/2019-05/a.jpg", true},
		{"/photos/2019", "/photos/2019/05/a.jpg", true},
		{"/photos/2019", "/photos/2019-05/a.jpg", false},
		{"/photos/*/best", "/photos/2019/best/a.jpg", true},
		{"/photos/*/best", "/photos/2019/x/best/a.jpg", false},
		{"/photos/*.jpg", "/photos/a.jpg", true},
		{"/photos/*.jpg", "/photos/sub/a.jpg", false},
		{"/", "/photos/a.jpg", true},
	}
	for _, tt := range tests {
		if got := matchPath(tt.glob, tt.path); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %t, want %t", tt.glob, tt.path, got, tt.want)
		}
	}
}

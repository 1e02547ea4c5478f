package dedup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// testPhoto writes a distinct w×h PNG into dir and returns its item.
func testPhoto(t *testing.T, dir, name string, w, h int, seed byte) Item {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i) ^ seed
	}
	img.Set(0, 0, color.RGBA{seed, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Item{Path: path, Width: w, Height: h, Size: int64(buf.Len()), Hash: sha256.Sum256(buf.Bytes())}
}

// testGroups makes n groups of a keeper and a near copy in dir; group 0
// also has an exact copy of its keeper, which shares its thumbnail.
func testGroups(t *testing.T, dir string, n int) []Group {
	t.Helper()
	var groups []Group
	for i := range n {
		k := testPhoto(t, dir, "k"+string(rune('a'+i))+".png", 60, 40, byte(2*i))
		c := testPhoto(t, dir, "c"+string(rune('a'+i))+".png", 30, 40, byte(2*i+1))
		g := Group{Keeper: k, Members: []Member{{Item: c, Score: 0.9, Reason: Near}}}
		if i == 0 {
			dup := k
			dup.Path = filepath.Join(dir, "exact.png")
			data, err := os.ReadFile(k.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dup.Path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			g.Members = append(g.Members, Member{Item: dup, Score: 1, Reason: Exact})
		}
		groups = append(groups, g)
	}
	return groups
}

// countingDecoder decodes PNGs and counts the calls.
func countingDecoder(n *atomic.Int32) ImageDecoder {
	return func(path string) (image.Image, error) {
		n.Add(1)
		return decodePNG(path)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilesDir(t *testing.T) {
	for in, want := range map[string]string{
		"dupes.html":         "dupes_files",
		"/tmp/out/r.htm":     "/tmp/out/r_files",
		"report":             "report_files",
		"a.b/report":         "a.b/report_files",
		"x.tar.html":         "x.tar_files",
		"dir/two words.html": "dir/two words_files",
	} {
		if got := FilesDir(in); got != want {
			t.Errorf("FilesDir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteHTMLFile_ThumbnailsBesideReportInPages(t *testing.T) {
	photos, out := t.TempDir(), t.TempDir()
	groups := testGroups(t, photos, 3)
	broken := filepath.Join(photos, "broken.png")
	if err := os.WriteFile(broken, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	groups[2].Members = append(groups[2].Members, Member{Item: Item{Path: broken, Size: 12, Hash: [32]byte{9}}, Score: 0.8, Reason: Near})
	var decodes atomic.Int32
	var calls [][2]int
	report := filepath.Join(out, "report.html")
	err := WriteHTMLFile(context.Background(), report, groups, &HTMLOptions{
		Decode: countingDecoder(&decodes), PerPage: 2, Workers: 2,
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 3 keepers, 3 near copies, the broken file; the exact copy shares
	// its keeper's thumbnail and is not decoded again.
	if got := decodes.Load(); got != 7 {
		t.Errorf("%d decodes, want 7", got)
	}
	if len(calls) != 7 || calls[6] != [2]int{7, 7} {
		t.Errorf("progress calls %v, want 1..7 of 7", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] != calls[i-1][0]+1 {
			t.Errorf("progress not counting up: %v", calls)
		}
	}

	files := filepath.Join(out, "report_files")
	var thumbs []string
	ents, err := os.ReadDir(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".jpg") {
			thumbs = append(thumbs, e.Name())
		}
	}
	if len(thumbs) != 6 {
		t.Errorf("thumbnails %v, want 6 (one per decodable content)", thumbs)
	}
	keeper := groups[0].Keeper.Hash.String() + "-192.jpg"
	f, err := os.Open(filepath.Join(files, keeper))
	if err != nil {
		t.Fatalf("keeper's thumbnail is not named by its hash: %v", err)
	}
	cfg, err := jpeg.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 192 || cfg.Height != 128 {
		t.Errorf("thumbnail %dx%d (%v), want a 192x128 JPEG", cfg.Width, cfg.Height, err)
	}

	page1 := readFile(t, report)
	if strings.Contains(page1, "data:image") {
		t.Error("page 1 inlines thumbnails")
	}
	for _, want := range []string{
		`src="./report_files/` + keeper + `"`,
		`loading="lazy"`,
		`class="card keep"`,
		`href="./report_files/page-2.html"`,
		"Group 1:", "Group 2:",
		"8 photos, 5 copies", // the exact and the broken file count
		"Page 1 of 2",
	} {
		if !strings.Contains(page1, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if strings.Contains(page1, "Group 3:") {
		t.Error("page 1 shows group 3 with 2 groups per page")
	}
	if n := strings.Count(page1, `src="./report_files/`+keeper+`"`); n != 2 {
		t.Errorf("keeper's thumbnail shown %d times on page 1, want 2 (it and its exact copy)", n)
	}
	page2 := readFile(t, filepath.Join(files, "page-2.html"))
	for _, want := range []string{
		`src="./` + groups[2].Keeper.Hash.String() + `-192.jpg"`,
		`href="../report.html"`,
		"Group 3:",
		"no preview: cannot decode",
		"Page 2 of 2",
	} {
		if !strings.Contains(page2, want) {
			t.Errorf("page 2 lacks %q", want)
		}
	}
	if strings.Contains(page2, "Group 1:") {
		t.Error("page 2 repeats group 1")
	}
}

func TestWriteHTMLFile_RerunReusesAndTidies(t *testing.T) {
	photos, out := t.TempDir(), t.TempDir()
	groups := testGroups(t, photos, 3)
	report := filepath.Join(out, "dupes.html")
	files := FilesDir(report)
	var decodes atomic.Int32
	opts := &HTMLOptions{Decode: countingDecoder(&decodes), PerPage: 1}
	if err := WriteHTMLFile(context.Background(), report, groups, opts); err != nil {
		t.Fatal(err)
	}
	first := decodes.Load()
	for _, name := range []string{"page-2.html", "page-3.html"} {
		if _, err := os.Stat(filepath.Join(files, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Things that are not the report's stay; a killed run's temporary
	// file goes.
	foreign := filepath.Join(files, "notes.txt")
	if err := os.WriteFile(foreign, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(files, ".page-2.html.tmp-12345")
	if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The same report again decodes nothing.
	if err := WriteHTMLFile(context.Background(), report, groups, opts); err != nil {
		t.Fatal(err)
	}
	if got := decodes.Load(); got != first {
		t.Errorf("rerun decoded %d photos, want 0", got-first)
	}

	// Group 3 resolved: its thumbnails and page 3 go, a new photo is the
	// one decode.
	gone := groups[2]
	extra := testPhoto(t, photos, "new.png", 50, 50, 99)
	groups = groups[:2]
	groups[1].Members = append(groups[1].Members, Member{Item: extra, Score: 0.85, Reason: Near})
	if err := WriteHTMLFile(context.Background(), report, groups, opts); err != nil {
		t.Fatal(err)
	}
	if got := decodes.Load() - first; got != 1 {
		t.Errorf("third run decoded %d photos, want 1 (the new one)", got)
	}
	for _, p := range []string{
		filepath.Join(files, gone.Keeper.Hash.String()+"-192.jpg"),
		filepath.Join(files, gone.Members[0].Hash.String()+"-192.jpg"),
		filepath.Join(files, "page-3.html"),
		tmp,
	} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed (%v)", filepath.Base(p), err)
		}
	}
	for _, p := range []string{foreign, filepath.Join(files, extra.Hash.String()+"-192.jpg"), filepath.Join(files, "page-2.html")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

func TestWriteHTMLFile_CancelledLeavesOldReport(t *testing.T) {
	photos, out := t.TempDir(), t.TempDir()
	groups := testGroups(t, photos, 4)
	report := filepath.Join(out, "report.html")
	if err := os.WriteFile(report, []byte("the old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var decodes atomic.Int32
	err := WriteHTMLFile(ctx, report, groups, &HTMLOptions{
		Decode: countingDecoder(&decodes), Workers: 1,
		Progress: func(done, total int) {
			if done == 2 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if got := decodes.Load(); got != 2 {
		t.Errorf("%d photos decoded after the cancel at 2", got)
	}
	if got := readFile(t, report); got != "the old report" {
		t.Errorf("report replaced by %q", got)
	}
	ents, _ := os.ReadDir(FilesDir(report))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestWriteHTMLFile_EscapesNamesAndPaths(t *testing.T) {
	photos, out := t.TempDir(), t.TempDir()
	groups := testGroups(t, photos, 1)
	groups[0].Members[0].Path = filepath.Join(photos, `<script>alert(1)</script>.png`)
	// A colon would make "a:b_files/x.jpg" a URL with the scheme a.
	report := filepath.Join(out, "a:b #1.html")
	if err := WriteHTMLFile(context.Background(), report, groups, &HTMLOptions{Decode: decodePNG}); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, report)
	if strings.Contains(page, "<script>") {
		t.Error("a path's markup reached the page")
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("the escaped path is missing")
	}
	src := regexp.MustCompile(`src="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(src) == 0 {
		t.Fatal("no thumbnails")
	}
	for _, m := range src {
		if !strings.HasPrefix(m[1], "./a:b%20%231_files/") {
			t.Errorf("thumbnail link %q does not point into the escaped folder", m[1])
		}
	}
	if _, err := os.Stat(filepath.Join(out, "a:b #1_files")); err != nil {
		t.Error(err)
	}
}

func TestWriteHTMLFile_NoGroupsNoDecoder(t *testing.T) {
	out := t.TempDir()
	report := filepath.Join(out, "r.html")
	if err := WriteHTMLFile(context.Background(), report, nil, nil); err != nil {
		t.Fatal(err)
	}
	if page := readFile(t, report); !strings.Contains(page, "0 duplicate groups") || strings.Contains(page, "<nav>") {
		t.Errorf("empty report:\n%s", page)
	}
	groups := testGroups(t, t.TempDir(), 1)
	if err := WriteHTMLFile(context.Background(), report, groups, nil); err != nil {
		t.Fatal(err)
	}
	if page := readFile(t, report); !strings.Contains(page, "no preview: no decoder") || strings.Contains(page, "<img") {
		t.Error("a report without a decoder should say so on each card")
	}
}

func TestWriteHTMLFile_UnwritableFolder(t *testing.T) {
	out := t.TempDir()
	// The thumbnail folder's name is taken by a file.
	if err := os.WriteFile(filepath.Join(out, "r_files"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	groups := testGroups(t, t.TempDir(), 1)
	err := WriteHTMLFile(context.Background(), filepath.Join(out, "r.html"), groups, &HTMLOptions{Decode: decodePNG})
	if err == nil || !strings.Contains(err.Error(), "thumbnail folder") {
		t.Errorf("err %v, want one about the thumbnail folder", err)
	}
	if _, err := os.Stat(filepath.Join(out, "r.html")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a report was written without its thumbnails")
	}
}

func TestByteSize(t *testing.T) {
	var got []string
	for _, n := range []int64{0, 999, 1000, 1_234_567, 5_000_000_000} {
		got = append(got, byteSize(n))
	}
	if want := []string{"0 B", "999 B", "1.0 kB", "1.2 MB", "5.0 GB"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

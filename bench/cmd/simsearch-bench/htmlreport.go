package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

// reportPhoto is the size of the generated photos of the report row:
// small, so that 25,000 of them stay near 150 MB on disk.
var reportPhoto = photoSize{"report", 160, 120}

type htmlReportRaw struct {
	Groups     int                   `json:"groups"`
	Photos     int                   `json:"photos"`
	PerPage    int                   `json:"per_page"`
	Pages      int                   `json:"pages"`
	GenerateS  float64               `json:"generate_s"`
	FirstS     float64               `json:"first_s"`  // WriteHTMLFile, every thumbnail made
	RerunS     float64               `json:"rerun_s"`  // again, every thumbnail reused
	InlineS    float64               `json:"inline_s"` // WriteReport, every thumbnail inlined
	PageBytes  int64                 `json:"page_bytes"`
	PagesBytes int64                 `json:"all_pages_bytes"`
	ThumbBytes int64                 `json:"thumbnail_bytes"`
	Thumbs     int                   `json:"thumbnails"`
	Single     int64                 `json:"single_page_bytes"`
	Inline     int64                 `json:"inline_bytes"`
	Chromium   string                `json:"chromium"` // its version, or why it did not run
	Open       map[string]pageTiming `json:"open"`     // median of openRuns loads, by layout
	OpenErr    map[string]string     `json:"open_errors,omitempty"`
}

// openRuns is how many times each page is opened; the median is kept.
const openRuns = 3

// reportRow writes dedup's HTML report for generated groups, as
// paged pages with a thumbnail folder, as one page with the same folder,
// and as one page with every thumbnail inlined (what WriteReport and the
// CLI wrote before), then opens each in headless Chromium.
func reportRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "4b. Dedup HTML report"}
	groups := 10_000
	perPage := dedup.DefaultPerPage
	if b.cfg.quick {
		groups, perPage = 30, 10
	}
	raw := &htmlReportRaw{Groups: groups, PerPage: perPage, Open: map[string]pageTiming{}, OpenErr: map[string]string{}}
	s.Raw = raw
	t := time.Now()
	gs, err := reportGroups(b, groups)
	if err != nil {
		return s, err
	}
	raw.GenerateS = time.Since(t).Seconds()
	for _, g := range gs {
		raw.Photos += 1 + len(g.Members)
	}

	dir := filepath.Join(b.tmp, "report")
	if err := os.RemoveAll(dir); err != nil {
		return s, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	paged := filepath.Join(dir, "paged.html")
	opts := &dedup.HTMLOptions{Decode: simsearch.DecodeThumbnail, PerPage: perPage}
	b.logf("writing the HTML report of %d groups (%d photos)", groups, raw.Photos)
	t = time.Now()
	if err := dedup.WriteHTMLFile(ctx, paged, gs, opts); err != nil {
		return s, err
	}
	raw.FirstS = time.Since(t).Seconds()
	t = time.Now()
	if err := dedup.WriteHTMLFile(ctx, paged, gs, opts); err != nil {
		return s, err
	}
	raw.RerunS = time.Since(t).Seconds()
	raw.PageBytes = fileSize(paged)
	raw.PagesBytes = raw.PageBytes
	ents, err := os.ReadDir(dedup.FilesDir(paged))
	if err != nil {
		return s, err
	}
	for _, e := range ents {
		p := filepath.Join(dedup.FilesDir(paged), e.Name())
		switch filepath.Ext(e.Name()) {
		case ".html":
			raw.PagesBytes += fileSize(p)
			raw.Pages++
		case ".jpg":
			raw.ThumbBytes += fileSize(p)
			raw.Thumbs++
		}
	}
	raw.Pages++ // the first, beside the folder

	// One page of every group, over a copy of the same thumbnails.
	single := filepath.Join(dir, "single.html")
	if err := linkDir(dedup.FilesDir(paged), dedup.FilesDir(single)); err != nil {
		return s, err
	}
	if err := dedup.WriteHTMLFile(ctx, single, gs, &dedup.HTMLOptions{Decode: simsearch.DecodeThumbnail, PerPage: len(gs)}); err != nil {
		return s, err
	}
	raw.Single = fileSize(single)

	inline := filepath.Join(dir, "inline.html")
	t = time.Now()
	if err := writeInline(inline, gs); err != nil {
		return s, err
	}
	raw.InlineS = time.Since(t).Seconds()
	raw.Inline = fileSize(inline)

	pages := []struct{ name, path string }{{"paged", paged}, {"single", single}, {"inline", inline}}
	if path := findChromium(); path == "" {
		raw.Chromium = "skipped: Chromium is not installed (apt-get install chromium; make bench-peers does it as root)"
	} else {
		raw.Chromium = chromiumVersion(ctx, path)
		br, err := startBrowser(path)
		if err != nil {
			return s, err
		}
		// A first load warms the browser's own start-up paths.
		if _, err := br.open(ctx, "about:blank"); err != nil {
			br.close()
			return s, err
		}
		for _, p := range pages {
			b.logf("opening %s (%s) in Chromium", p.name, mib(float64(fileSize(p.path))))
			tm, err := openMedian(ctx, br, p.path)
			if err != nil {
				raw.OpenErr[p.name] = err.Error()
				continue
			}
			raw.Open[p.name] = tm
		}
		br.close()
	}
	reportTables(&s, raw)
	return s, ctx.Err()
}

// openMedian opens the file at path openRuns times, each in a fresh tab
// with a two-minute limit, and returns the load with the median load time.
func openMedian(ctx context.Context, br *browser, path string) (pageTiming, error) {
	u := url.URL{Scheme: "file", Path: path}
	var runs []pageTiming
	for range openRuns {
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		tm, err := br.open(c, u.String())
		cancel()
		if err != nil {
			return tm, err
		}
		runs = append(runs, tm)
	}
	slices.SortFunc(runs, func(a, b pageTiming) int {
		switch {
		case a.LoadMS < b.LoadMS:
			return -1
		case a.LoadMS > b.LoadMS:
			return 1
		}
		return 0
	})
	return runs[len(runs)/2], nil
}

// reportGroups makes n groups of generated photos: a keeper and one or
// two near copies each, every photo its own picture and content hash.
// Full-size runs keep the photos in the work directory for the next run.
func reportGroups(b *bench, n int) ([]dedup.Group, error) {
	sizes := make([]int, n) // photos per group
	total := 0
	for i := range sizes {
		sizes[i] = 2 + i%2
		total += sizes[i]
	}
	b.logf("generating %d photos of %dx%d for the HTML report", total, reportPhoto.W, reportPhoto.H)
	paths, err := photoDir(b.workDir(), reportPhoto, total, 0)
	if err != nil {
		return nil, err
	}
	items := make([]dedup.Item, len(paths))
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		items[i] = dedup.Item{Path: p, Size: int64(len(data)), Width: reportPhoto.W, Height: reportPhoto.H, Format: "jpeg", Hash: sha256.Sum256(data)}
	}
	groups := make([]dedup.Group, n)
	at := 0
	for i, k := range sizes {
		g := dedup.Group{Keeper: items[at]}
		for j := 1; j < k; j++ {
			g.Members = append(g.Members, dedup.Member{Item: items[at+j], Score: 0.9, Reason: dedup.Near})
		}
		groups[i] = g
		at += k
	}
	return groups, nil
}

// writeInline writes the one-page report with every thumbnail inlined.
func writeInline(path string, groups []dedup.Group) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = dedup.WriteReport(f, dedup.HTML, groups, simsearch.DecodeThumbnail)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// linkDir hard-links the files of src into a new dst.
func linkDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".jpg") {
			if err := os.Link(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// chromiumVersion is what `chromium --version` says.
func chromiumVersion(ctx context.Context, path string) string {
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return filepath.Base(path)
	}
	return lastLine(out)
}

func reportTables(s *Section, raw *htmlReportRaw) {
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("`dedup.WriteHTMLFile` (what `simsearch dedup --format html --out FILE` runs) on %s generated groups of a keeper and one or two near copies (%s distinct %d×%d JPEGs), %d groups a page: thumbnails in FILE's `_files` folder, named by content hash.",
			num(float64(raw.Groups)), num(float64(raw.Photos)), reportPhoto.W, reportPhoto.H, raw.PerPage),
		Header: []string{"first run (every thumbnail made)", "again (every thumbnail reused)", "pages", "first page", "all pages", "thumbnails"},
		Rows: [][]string{{seconds(raw.FirstS), seconds(raw.RerunS), num(float64(raw.Pages)), mib(float64(raw.PageBytes)), mib(float64(raw.PagesBytes)),
			fmt.Sprintf("%s files, %s", num(float64(raw.Thumbs)), mib(float64(raw.ThumbBytes)))}},
	})
	t := Table{
		Caption: fmt.Sprintf("Opening each layout in headless Chromium (%s; a fresh tab each time, median of %d, a 1280×800 window): from navigation start to the DOMContentLoaded and load events by the page's Navigation Timing, and to the moment every thumbnail of the first screen had loaded; the harness's wall time from the navigate command to the load event; how many thumbnails had loaded at the load event (the rest load lazily on scrolling).", raw.Chromium, openRuns),
		Header:  []string{"layout", "HTML size", "DOMContentLoaded", "load event", "first screen shown", "wall to load", "thumbnails loaded at load / on the page"},
	}
	layouts := []struct {
		key, what string
		bytes     int64
	}{
		{"paged", fmt.Sprintf("first page of %d groups, thumbnails in the folder (now)", raw.PerPage), raw.PageBytes},
		{"single", fmt.Sprintf("one page of all %s groups, thumbnails in the folder", num(float64(raw.Groups))), raw.Single},
		{"inline", fmt.Sprintf("one page, every thumbnail inlined (before; `WriteReport` still, %s to write)", seconds(raw.InlineS)), raw.Inline},
	}
	for _, l := range layouts {
		row := []string{l.what, mib(float64(l.bytes))}
		switch tm, ok := raw.Open[l.key]; {
		case ok:
			row = append(row, ms(tm.DOMContentLoadedMS), ms(tm.LoadMS), fmt.Sprintf("%s (%d thumbnails)", ms(tm.ScreenMS), tm.ScreenImages),
				ms(tm.WallMS), fmt.Sprintf("%s / %s", num(float64(tm.ImagesLoaded)), num(float64(tm.Images))))
		case raw.OpenErr[l.key] != "":
			row = append(row, "failed: "+raw.OpenErr[l.key], "", "", "", "")
		default:
			row = append(row, raw.Chromium, "", "", "", "")
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
}

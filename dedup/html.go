package dedup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"image"
	"image/jpeg"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/simsearch/simsearch/internal/atomicfile"
	"golang.org/x/image/draw"
)

// HTMLOptions lays out the HTML report that WriteHTMLFile writes.
type HTMLOptions struct {
	// Decode opens each photo for its thumbnail; nil writes cards
	// without thumbnails.
	Decode ImageDecoder
	// PerPage is how many groups one page shows; 0 means DefaultPerPage.
	PerPage int
	// Workers is how many photos are decoded at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when not nil, is told how many of total thumbnails are
	// ready, reused ones included. Calls never overlap.
	Progress func(done, total int)
}

// DefaultPerPage is how many groups a page of the HTML report shows: a
// page of 500 groups (about 1,300 photos) is about 1 MB and opens in well
// under a second however large the report.
const DefaultPerPage = 500

// thumbSide is the longest side of a thumbnail in pixels; it is part of
// the thumbnails' file names, so a change makes new ones.
const thumbSide = 192

// FilesDir is the folder beside the report at path that WriteHTMLFile
// puts the thumbnails and the further pages in, named as browsers name
// a saved page's folder: "dupes.html" gives "dupes_files".
func FilesDir(path string) string {
	return path[:len(path)-len(filepath.Ext(path))] + "_files"
}

// WriteHTMLFile writes groups as an HTML report at path, with JPEG
// thumbnails and the pages after the first in FilesDir(path).
// Thumbnails are named by the photo's content hash, so a later report
// reuses those already made and decodes only new photos; thumbnails and
// pages that the report no longer links to are removed from the folder.
// Each file appears whole or not at all (written aside, then renamed),
// and the page at path is written last. A cancelled ctx stops between
// photos and returns its error; the report at path is then left as it
// was.
func WriteHTMLFile(ctx context.Context, path string, groups []Group, opts *HTMLOptions) error {
	var o HTMLOptions
	if opts != nil {
		o = *opts
	}
	if o.PerPage <= 0 {
		o.PerPage = DefaultPerPage
	}
	files := FilesDir(path)
	if err := os.MkdirAll(files, 0o755); err != nil {
		return fmt.Errorf("create thumbnail folder: %w", err)
	}
	jobs, cards := htmlCards(groups)
	thumbs, err := makeThumbs(ctx, jobs, files, &o)
	if err != nil {
		return err
	}
	pages := (len(groups) + o.PerPage - 1) / o.PerPage
	pages = max(pages, 1)
	link := "./" + url.PathEscape(filepath.Base(files)) + "/"
	home := "../" + url.PathEscape(filepath.Base(path))
	// Pages 2 and later live in the folder, so their links differ.
	for n := 2; n <= pages; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := newPage(groups, cards, thumbs, n, pages, o.PerPage, "./", "./", home)
		if err := atomicfile.WriteUnsynced(filepath.Join(files, pageName(n)), p.render); err != nil {
			return err
		}
	}
	p := newPage(groups, cards, thumbs, 1, pages, o.PerPage, link, link, "")
	if err := atomicfile.WriteUnsynced(path, p.render); err != nil {
		return err
	}
	return prune(files, thumbs, pages)
}

// writeHTMLInline writes the whole report as one page with its
// thumbnails inlined: WriteReport's HTML, for small reports.
func writeHTMLInline(w io.Writer, groups []Group, decode ImageDecoder) error {
	jobs, cards := htmlCards(groups)
	thumbs, err := makeThumbs(context.Background(), jobs, "", &HTMLOptions{Decode: decode})
	if err != nil {
		return err
	}
	return newPage(groups, cards, thumbs, 1, 1, max(len(groups), 1), "", "", "").render(w)
}

func pageName(n int) string { return "page-" + strconv.Itoa(n) + ".html" }

// htmlCard is one photo of a group; Thumb indexes the thumbnail jobs.
type htmlCard struct {
	Path, Reason, Score string
	Keeper, Protected   bool
	Pair                bool // the keeper's raw or JPEG twin, kept
	Width, Height       int
	Size                int64
	Taken, Camera       string // capture time (TakenText) and camera, "" when unknown
	Thumb               int
}

// htmlCards lays out the groups' cards, keeper first, and lists each
// distinct photo content once for its thumbnail.
func htmlCards(groups []Group) ([]thumbJob, [][]htmlCard) {
	var jobs []thumbJob
	seen := map[string]int{}
	thumb := func(it Item) int {
		key := thumbKey(it)
		if i, ok := seen[key]; ok {
			return i
		}
		seen[key] = len(jobs)
		jobs = append(jobs, thumbJob{key: key, path: it.Path})
		return len(jobs) - 1
	}
	cards := make([][]htmlCard, len(groups))
	for i, g := range groups {
		k := g.Keeper
		cards[i] = append(cards[i], htmlCard{Path: k.Path, Keeper: true, Reason: g.KeeperReason, Protected: g.KeeperProtected, Width: k.Width, Height: k.Height, Size: k.Size,
			Taken: TakenText(k.TakenAt), Camera: camera(k), Thumb: thumb(k)})
		for _, m := range g.Members {
			cards[i] = append(cards[i], htmlCard{Path: m.Path, Reason: string(m.Reason), Protected: m.Protected, Pair: m.Pair, Score: strconv.FormatFloat(float64(m.Score), 'f', 4, 32),
				Width: m.Width, Height: m.Height, Size: m.Size, Taken: TakenText(m.TakenAt), Camera: camera(m.Item), Thumb: thumb(m.Item)})
		}
	}
	return jobs, cards
}

// thumbKey names a photo's thumbnail: its content hash, or for an item
// without one (never stored so, but a Go caller may build groups by
// hand) a hash of its path, size and modification time.
func thumbKey(it Item) string {
	if it.Hash != (Item{}).Hash {
		return it.Hash.String()
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", it.Path, it.Size, it.ModTime)))
	return "p" + hex.EncodeToString(h[:])
}

// thumbFile matches the files WriteHTMLFile writes into its folder (with
// atomicfile.TempPattern, the temporary files of killed runs), and
// nothing a person would put there: prune removes only these.
var thumbFile = regexp.MustCompile(`^(p?[0-9a-f]{64}-[0-9]+\.jpg|page-[0-9]+\.html)$`)

func thumbName(key string) string { return key + "-" + strconv.Itoa(thumbSide) + ".jpg" }

type thumbJob struct{ key, path string }

// thumb is a made thumbnail: src is its file name in the folder or a
// data: URI; note says why there is none.
type thumb struct{ src, note string }

// makeThumbs makes the jobs' thumbnails in parallel: files in dir, or
// data: URIs when dir is "". A photo that cannot be decoded gets a note;
// a thumbnail that cannot be written stops the report.
func makeThumbs(ctx context.Context, jobs []thumbJob, dir string, o *HTMLOptions) ([]thumb, error) {
	out := make([]thumb, len(jobs))
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(jobs))
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		done    int
		failure error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stop.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				t, err := makeThumb(jobs[i], dir, o.Decode)
				mu.Lock()
				if err != nil && failure == nil {
					failure = err
					cancel()
				}
				out[i] = t
				done++
				if err == nil && o.Progress != nil {
					o.Progress(done, len(jobs))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// makeThumb reuses the thumbnail already in dir or makes it.
func makeThumb(j thumbJob, dir string, decode ImageDecoder) (thumb, error) {
	if decode == nil {
		return thumb{note: "no decoder"}, nil
	}
	name := thumbName(j.key)
	if dir != "" {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			return thumb{src: name}, nil
		}
	}
	data, note := encodeThumb(j.path, decode)
	switch {
	case data == nil:
		return thumb{note: note}, nil
	case dir == "":
		return thumb{src: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(data)}, nil
	}
	err := atomicfile.WriteUnsynced(filepath.Join(dir, name), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return thumb{}, err
	}
	return thumb{src: name}, nil
}

// encodeThumb returns a JPEG of the image at path at most thumbSide
// pixels on its longest side, or why there is none.
func encodeThumb(path string, decode ImageDecoder) ([]byte, string) {
	src, err := decode(path)
	if err != nil {
		return nil, "cannot decode: " + err.Error()
	}
	b := src.Bounds()
	wd, ht := b.Dx(), b.Dy()
	if wd <= 0 || ht <= 0 {
		return nil, "empty image"
	}
	if wd >= ht {
		wd, ht = thumbSide, max(1, ht*thumbSide/wd)
	} else {
		wd, ht = max(1, wd*thumbSide/ht), thumbSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, wd, ht))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, "cannot encode: " + err.Error()
	}
	return buf.Bytes(), ""
}

// prune removes from dir the thumbnails and pages of earlier reports
// that this one does not link to, and temporary files of killed runs.
func prune(dir string, thumbs []thumb, pages int) error {
	keep := map[string]bool{}
	for _, t := range thumbs {
		keep[t.src] = true
	}
	for n := 2; n <= pages; n++ {
		keep[pageName(n)] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("tidy thumbnail folder: %w", err)
	}
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && (thumbFile.MatchString(n) || atomicfile.TempPattern.MatchString(n)) && !keep[n] {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("tidy thumbnail folder: %w", err)
			}
		}
	}
	return nil
}

// htmlPage is what the template renders for one page.
type htmlPage struct {
	Groups, Photos, Copies int
	Bytes                  string // what removing every copy would free
	Number, Count          int
	Nav                    []htmlNav
	Rows                   []htmlGroup
}

type htmlNav struct {
	Number  int
	URL     template.URL
	Current bool
}

type htmlGroup struct {
	Number int
	Copies int
	Bytes  string
	Cards  []htmlCardView
}

type htmlCardView struct {
	htmlCard
	Src  template.URL
	Note string
}

// newPage lays out page n of count. thumbPrefix and pagePrefix lead the
// links to thumbnails and to pages 2 and later; home links page 1.
func newPage(groups []Group, cards [][]htmlCard, thumbs []thumb, n, count, perPage int, thumbPrefix, pagePrefix, home string) *htmlPage {
	p := &htmlPage{Groups: len(groups), Number: n, Count: count}
	var freed int64
	for _, g := range groups {
		p.Photos += 1 + len(g.Members)
		p.Copies += len(g.Members)
		for _, m := range g.Members {
			freed += m.Size
		}
	}
	p.Bytes = byteSize(freed)
	if count > 1 {
		for i := 1; i <= count; i++ {
			u := pagePrefix + pageName(i)
			if i == 1 {
				u = home
				if n == 1 {
					u = "#"
				}
			}
			p.Nav = append(p.Nav, htmlNav{Number: i, URL: template.URL(u), Current: i == n})
		}
	}
	lo := (n - 1) * perPage
	hi := min(lo+perPage, len(groups))
	for i := lo; i < hi; i++ {
		row := htmlGroup{Number: i + 1, Copies: len(groups[i].Members)}
		var b int64
		for _, m := range groups[i].Members {
			b += m.Size
		}
		row.Bytes = byteSize(b)
		for _, c := range cards[i] {
			v := htmlCardView{htmlCard: c}
			switch t := thumbs[c.Thumb]; {
			case t.src == "":
				v.Note = t.note
			case thumbPrefix == "":
				// A data: URI made here; html/template would refuse it.
				v.Src = template.URL(t.src)
			default:
				v.Src = template.URL(thumbPrefix + t.src)
			}
			row.Cards = append(row.Cards, v)
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

func (p *htmlPage) render(w io.Writer) error { return pageTemplate.Execute(w, p) }

// byteSize formats n bytes for people, in powers of 1,000 as file
// managers show sizes.
func byteSize(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1000, 0
	for v >= 1000 && unit < 4 {
		v /= 1000
		unit++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + string("kMGTP"[unit]) + "B"
}

// The page is plain HTML and CSS, no script. Every card is a fixed-size
// box and every thumbnail sits in a fixed square, so nothing moves as
// images arrive; images load lazily and groups off screen are not laid
// out (content-visibility), which keeps a page of thousands of photos
// quick to open.
var pageTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>simsearch: {{.Groups}} duplicate groups{{if gt .Count 1}} (page {{.Number}} of {{.Count}}){{end}}</title>
<style>
body{font-family:sans-serif;margin:1em;background:#f6f6f6}
nav{margin:.5em 0 1em;line-height:2}
nav a,nav b{display:inline-block;min-width:2em;text-align:center}
.group{background:#fff;margin:0 0 1em;padding:.5em;border-radius:6px;overflow-x:auto;white-space:nowrap;content-visibility:auto;contain-intrinsic-size:auto 360px}
.group h2{font-size:16px;margin:.2em 0 .4em}
.card{display:inline-block;vertical-align:top;width:200px;height:306px;overflow:hidden;margin:4px;padding:4px;border:3px solid #ddd;white-space:normal;font-size:12px;word-break:break-all}
.keep{border-color:#2a2}
.thumb{width:192px;height:192px;margin:auto;display:flex;align-items:center;justify-content:center;background:#eee;overflow:hidden}
.thumb img{max-width:192px;max-height:192px}
.card p{margin:.3em 0}
.tag{font-weight:bold}
</style></head><body>
<h1>{{.Groups}} duplicate groups</h1>
<p>{{.Photos}} photos, {{.Copies}} copies; removing every copy frees {{.Bytes}}.{{if gt .Count 1}} Page {{.Number}} of {{.Count}}.{{end}}</p>
{{define "nav"}}{{if .Nav}}<nav>Pages: {{range .Nav}}{{if .Current}}<b>{{.Number}}</b>{{else}}<a href="{{.URL}}">{{.Number}}</a>{{end}} {{end}}</nav>{{end}}{{end}}{{template "nav" .}}
{{range .Rows}}<div class="group"><h2>Group {{.Number}}: {{.Copies}} {{if eq .Copies 1}}copy{{else}}copies{{end}}, {{.Bytes}}</h2>
{{range .Cards}}<div class="card{{if .Keeper}} keep{{end}}"><div class="thumb">{{if .Src}}<img loading="lazy" decoding="async" alt="" src="{{.Src}}">{{else}}<p>(no preview: {{.Note}})</p>{{end}}</div>
<p class="tag">{{if .Keeper}}KEEP{{with .Reason}}: {{.}}{{end}}{{else}}{{.Reason}} {{.Score}}{{end}}{{if .Protected}} (reference, never touched){{end}}{{if .Pair}} (raw+JPEG pair of one shot: both kept){{end}}</p>
<p>{{.Width}}×{{.Height}}, {{.Size}} bytes</p>{{if or .Taken .Camera}}<p class="taken">{{with .Taken}}taken {{.}}{{end}}{{if and .Taken .Camera}}, {{end}}{{.Camera}}</p>{{end}}<p>{{.Path}}</p></div>
{{end}}</div>
{{end}}{{template "nav" .}}</body></html>
`))

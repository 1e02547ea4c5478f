package dedup

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/jpeg"
	"io"
	"strconv"
	"text/tabwriter"

	"golang.org/x/image/draw"
)

// ImageDecoder opens an image file for a thumbnail, upright (EXIF
// orientation applied) and within a pixel limit. The HTML report takes one
// so that it decodes exactly as indexing did; nil means no thumbnails.
type ImageDecoder func(path string) (image.Image, error)

// Format is a report format.
type Format string

// The report formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	CSV   Format = "csv"
	HTML  Format = "html" // one self-contained file with thumbnails
)

// ErrFormat is returned for an unknown report format.
var ErrFormat = errors.New("unknown report format")

// ParseFormat returns the format named s; "" means Table.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return Table, nil
	case Table, JSON, CSV, HTML:
		return f, nil
	}
	return "", fmt.Errorf("%q: %w", s, ErrFormat)
}

// WriteReport writes groups to w in format f; decode makes the HTML
// report's thumbnails.
func WriteReport(w io.Writer, f Format, groups []Group, decode ImageDecoder) error {
	return WriteReportSummary(w, f, groups, Summary{}, decode)
}

// Summary is what a report says about its run besides the groups.
type Summary struct {
	// SetAside counts the pairs of photos that would have shared a group
	// but were kept apart by the user's decisions (see Options.Apart).
	SetAside int
}

// WriteReportSummary is WriteReport with the run's summary: the table's
// last line says how many pairs decisions set aside, when any, and the
// JSON object has it as "pairs_set_aside" beside "groups". CSV rows and
// the HTML page do not carry it.
func WriteReportSummary(w io.Writer, f Format, groups []Group, sum Summary, decode ImageDecoder) error {
	switch f {
	case Table, "":
		return writeTable(w, groups, sum)
	case JSON:
		if groups == nil {
			groups = []Group{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Groups   []Group `json:"groups"`
			SetAside int     `json:"pairs_set_aside"`
		}{groups, sum.SetAside})
	case CSV:
		return writeCSV(w, groups)
	case HTML:
		return writeHTML(w, groups, decode)
	}
	return fmt.Errorf("%q: %w", f, ErrFormat)
}

func writeTable(w io.Writer, groups []Group, sum Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tROLE\tREASON\tSCORE\tSIZE\tBYTES\tPATH")
	for i, g := range groups {
		k := g.Keeper
		fmt.Fprintf(tw, "%d\tkeep\t%s\t-\t%dx%d\t%d\t%s\n", i+1, orDash(g.KeeperReason), k.Width, k.Height, k.Size, k.Path)
		for _, m := range g.Members {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.4f\t%dx%d\t%d\t%s\n", i+1, role(m), m.Reason, m.Score, m.Width, m.Height, m.Size, m.Path)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	dups := 0
	for _, g := range groups {
		dups += len(g.Members)
	}
	if _, err := fmt.Fprintf(w, "%d groups, %d duplicates", len(groups), dups); err != nil {
		return err
	}
	if n := sum.SetAside; n == 1 {
		fmt.Fprint(w, "; 1 pair set aside by decisions")
	} else if n > 1 {
		fmt.Fprintf(w, "; %d pairs set aside by decisions", n)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// role is a member's ROLE in the table and CSV reports: dup, or ref for
// one under a reference folder, which no action touches.
func role(m Member) string {
	if m.Protected {
		return "ref"
	}
	return "dup"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeCSV(w io.Writer, groups []Group) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"group", "role", "reason", "score", "path", "keeper", "width", "height", "bytes", "keeper_reason", "protected"})
	for i, g := range groups {
		k := g.Keeper
		cw.Write([]string{strconv.Itoa(i + 1), "keep", "", "", k.Path, k.Path, strconv.Itoa(k.Width), strconv.Itoa(k.Height), strconv.FormatInt(k.Size, 10),
			g.KeeperReason, strconv.FormatBool(g.KeeperProtected)})
		for _, m := range g.Members {
			cw.Write([]string{strconv.Itoa(i + 1), role(m), string(m.Reason), strconv.FormatFloat(float64(m.Score), 'f', 4, 32), m.Path, k.Path,
				strconv.Itoa(m.Width), strconv.Itoa(m.Height), strconv.FormatInt(m.Size, 10), g.KeeperReason, strconv.FormatBool(m.Protected)})
		}
	}
	cw.Flush()
	return cw.Error()
}

type htmlCard struct {
	Path, Thumb, Reason, Note string
	Keeper, Protected         bool
	Score                     string
	Width, Height             int
	Size                      int64
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>simsearch duplicates</title>
<style>
body{font-family:sans-serif;margin:1em;background:#f6f6f6}
.group{background:#fff;margin:0 0 1em;padding:.5em;border-radius:6px;overflow-x:auto;white-space:nowrap}
.card{display:inline-block;vertical-align:top;width:200px;margin:4px;padding:4px;border:3px solid #ddd;white-space:normal;font-size:12px;word-break:break-all}
.keep{border-color:#2a2}
.card img{max-width:192px;max-height:192px;display:block;margin:auto}
.tag{font-weight:bold}
</style></head><body>
<h1>{{len .}} duplicate groups</h1>
{{range $i, $g := .}}<div class="group"><h2>Group {{$i | inc}}</h2>
{{range $g}}<div class="card{{if .Keeper}} keep{{end}}">{{if .Thumb}}<img alt="" src="data:image/jpeg;base64,{{.Thumb}}">{{else}}<p>(no preview: {{.Note}})</p>{{end}}
<p class="tag">{{if .Keeper}}KEEP{{with .Reason}}: {{.}}{{end}}{{else}}{{.Reason}} {{.Score}}{{end}}{{if .Protected}} (reference, never touched){{end}}</p>
<p>{{.Width}}×{{.Height}}, {{.Size}} bytes</p><p>{{.Path}}</p></div>
{{end}}</div>
{{end}}</body></html>
`))

func writeHTML(w io.Writer, groups []Group, decode ImageDecoder) error {
	data := make([][]htmlCard, len(groups))
	for i, g := range groups {
		k := g.Keeper
		c := htmlCard{Path: k.Path, Keeper: true, Reason: g.KeeperReason, Protected: g.KeeperProtected, Width: k.Width, Height: k.Height, Size: k.Size}
		c.Thumb, c.Note = thumbnail(k.Path, decode)
		data[i] = append(data[i], c)
		for _, m := range g.Members {
			c := htmlCard{Path: m.Path, Reason: string(m.Reason), Protected: m.Protected, Score: strconv.FormatFloat(float64(m.Score), 'f', 4, 32), Width: m.Width, Height: m.Height, Size: m.Size}
			c.Thumb, c.Note = thumbnail(m.Path, decode)
			data[i] = append(data[i], c)
		}
	}
	return page.Execute(w, data)
}

// thumbSide is the longest side of a thumbnail in pixels.
const thumbSide = 192

// thumbnail returns a base64 JPEG of the image at path, or why there is none.
func thumbnail(path string, decode ImageDecoder) (string, string) {
	if decode == nil {
		return "", "no decoder"
	}
	src, err := decode(path)
	if err != nil {
		return "", "cannot decode: " + err.Error()
	}
	b := src.Bounds()
	wd, ht := b.Dx(), b.Dy()
	if wd <= 0 || ht <= 0 {
		return "", "empty image"
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
		return "", err.Error()
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), ""
}

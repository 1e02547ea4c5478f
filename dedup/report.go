package dedup

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
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
	HTML  Format = "html" // a page with thumbnails (WriteHTMLFile for large reports)
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
// report's thumbnails. HTML here is one self-contained page with every
// thumbnail inlined, about 60 KB a group: fine for tens of groups, too
// heavy for a browser at thousands, where WriteHTMLFile writes the
// thumbnails to a folder and splits the groups into pages.
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
		return writeHTMLInline(w, groups, decode)
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

// role is a member's ROLE in the table and CSV reports: dup, ref for one
// under a reference folder, or pair for the keeper's raw or JPEG twin;
// no action touches a ref or a pair.
func role(m Member) string {
	switch {
	case m.Protected:
		return "ref"
	case m.Pair:
		return "pair"
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
	cw.Write([]string{"group", "role", "reason", "score", "path", "keeper", "width", "height", "bytes", "keeper_reason", "protected",
		"format", "taken", "camera_make", "camera_model"})
	for i, g := range groups {
		k := g.Keeper
		cw.Write([]string{strconv.Itoa(i + 1), "keep", "", "", k.Path, k.Path, strconv.Itoa(k.Width), strconv.Itoa(k.Height), strconv.FormatInt(k.Size, 10),
			g.KeeperReason, strconv.FormatBool(g.KeeperProtected), k.Format, k.TakenAt, k.Make, k.Model})
		for _, m := range g.Members {
			cw.Write([]string{strconv.Itoa(i + 1), role(m), string(m.Reason), strconv.FormatFloat(float64(m.Score), 'f', 4, 32), m.Path, k.Path,
				strconv.Itoa(m.Width), strconv.Itoa(m.Height), strconv.FormatInt(m.Size, 10), g.KeeperReason, strconv.FormatBool(m.Protected),
				m.Format, m.TakenAt, m.Make, m.Model})
		}
	}
	cw.Flush()
	return cw.Error()
}

// TakenText is a capture time (Item.TakenAt) for people, to the minute:
// "2019-05-02 10:11+02:00", or "2019-05-02 10:11" when its zone is
// unknown; "" when there is none.
func TakenText(takenAt string) string {
	if len(takenAt) < len("2006-01-02T15:04") || takenAt[10] != 'T' {
		return takenAt
	}
	out := takenAt[:10] + " " + takenAt[11:16]
	if i := strings.LastIndexAny(takenAt[11:], "Z+-"); i >= 0 {
		out += takenAt[11+i:]
	}
	return out
}

// camera is an item's camera for people: make and model, without the make
// when the model repeats it ("Canon EOS 5D", not "Canon Canon EOS 5D").
func camera(it Item) string {
	switch {
	case it.Model == "":
		return it.Make
	case it.Make == "" || strings.HasPrefix(strings.ToLower(it.Model), strings.ToLower(it.Make)):
		return it.Model
	}
	return it.Make + " " + it.Model
}

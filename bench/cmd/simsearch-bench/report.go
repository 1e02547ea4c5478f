package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is one run: the machine, then one section per row. It renders
// as Markdown and is saved as JSON with the raw figures.
type Report struct {
	Quick    bool      `json:"quick"`
	Started  time.Time `json:"started"`
	Elapsed  float64   `json:"elapsed_s"`
	Command  string    `json:"command"`
	Machine  Machine   `json:"machine"`
	Sections []Section `json:"sections"`
}

// Section is one row of the issue: tables for people, Raw for tools.
type Section struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Command string   `json:"command"`
	Seconds float64  `json:"elapsed_s"`
	Error   string   `json:"error,omitempty"`
	Targets []Target `json:"targets,omitempty"`
	Tables  []Table  `json:"tables,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	Raw     any      `json:"raw,omitempty"`
}

// Table is a Markdown table with an optional caption above it.
type Table struct {
	Caption string     `json:"caption,omitempty"`
	Header  []string   `json:"header"`
	Rows    [][]string `json:"rows"`
}

// Target is one of the goals and whether this run met it.
type Target struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// noisyLoad is the one-minute load average above which a run on an
// otherwise idle machine is not: figures are then marked as noisy.
const noisyLoad = 0.5

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	title := "simsearch benchmark"
	if r.Quick {
		title += " (quick mode: tiny sizes, checks that the benchmarks run; the figures mean nothing)"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "%s on `%s`, %s in all. Reproduce with `%s`.\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), r.Machine.Hostname, seconds(r.Elapsed), r.Command)
	b.WriteString("## Machine\n\n")
	m := r.Machine
	rows := [][]string{
		{"CPU", m.CPUModel},
		{"CPU flags", strings.Join(m.CPUFlags, " ")},
		{"cores (runtime.NumCPU)", fmt.Sprint(m.Cores)},
	}
	if m.CPUMax != "" {
		rows = append(rows, []string{"cgroup cpu.max", m.CPUMax})
	}
	rows = append(rows,
		[]string{"memory", fmt.Sprintf("%.1f GiB", float64(m.MemTotal)/(1<<30))},
		[]string{"kernel", m.Kernel},
		[]string{"Go", m.GoVersion + " " + m.GOARCH},
		[]string{"ONNX Runtime", m.ORTVersion},
		[]string{"load average at start / end (1, 5, 15 min)", m.LoadStart + " / " + m.LoadEnd},
	)
	writeTable(&b, Table{Header: []string{"machine", ""}, Rows: rows})
	if l := load1(m.LoadStart); l > noisyLoad {
		fmt.Fprintf(&b, "\n**Noisy:** the one-minute load average was %.2f when the run started (over %.1f): other work shared the cores, so absolute figures are low and ratios within a row are more telling.\n", l, noisyLoad)
	}
	b.WriteString("\n")

	var all []Target
	for _, s := range r.Sections {
		all = append(all, s.Targets...)
	}
	if len(all) > 0 {
		b.WriteString("## Targets\n\n")
		t := Table{Header: []string{"target", "want", "got", "met"}}
		for _, x := range all {
			met := "yes"
			if !x.Met {
				met = "**no**"
			}
			t.Rows = append(t.Rows, []string{x.What, x.Want, x.Got, met})
		}
		writeTable(&b, t)
		b.WriteString("\n")
	}

	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		fmt.Fprintf(&b, "`%s` (%s)\n\n", s.Command, seconds(s.Seconds))
		if s.Error != "" {
			fmt.Fprintf(&b, "**Failed:** %s\n\n", s.Error)
		}
		for _, t := range s.Tables {
			if t.Caption != "" {
				fmt.Fprintf(&b, "%s\n\n", t.Caption)
			}
			writeTable(&b, t)
			b.WriteString("\n")
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if len(s.Notes) > 0 {
			b.WriteString("\n")
		}
	}
	b.WriteString("## Go benchmarks of the hot paths\n\n")
	b.WriteString("Dot product, HNSW search, preprocessing, pooling, record encode/decode and the rest, for benchstat:\n\n")
	b.WriteString("```\nmake bench-go BENCHCOUNT=6 > new.txt   # go test -run '^$' -bench . -benchtime 3x -count 6 ./internal/extractor/ ./internal/store/ ./index/\ngo test -run '^$' -bench Find ./dedup/   # grouping 100k embeddings, about a minute per run\nbenchstat old.txt new.txt\n```\n")
	return b.String()
}

// writeTable writes t as a Markdown table; pipes in cells are escaped.
func writeTable(b *strings.Builder, t Table) {
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	row(t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	row(sep)
	for _, r := range t.Rows {
		row(r)
	}
}

// Write saves the report as DIR/<date>-<host>.md and .json.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host := strings.Map(func(c rune) rune {
		if c == '/' || c == ' ' || c == os.PathSeparator {
			return '-'
		}
		return c
	}, r.Machine.Hostname)
	if host == "" {
		host = "unknown"
	}
	base := filepath.Join(dir, r.Started.Format("2006-01-02")+"-"+host)
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	out := []string{base + ".md", base + ".json"}
	for i, data := range [][]byte{[]byte(r.Markdown()), append(js, '\n')} {
		tmp := out[i] + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Formatting helpers: figures are rounded for people here; the JSON keeps
// them whole.

func seconds(s float64) string {
	switch {
	case s >= 120:
		return fmt.Sprintf("%.1f min", s/60)
	case s >= 10:
		return fmt.Sprintf("%.0f s", s)
	case s >= 1:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}

// ms formats milliseconds with three significant digits.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.3f ms", v)
}

// num formats v with thousands separators and no decimals.
func num(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// rate formats a per-second figure with about three significant digits.
func rate(v float64) string {
	switch {
	case v >= 1000:
		return num(v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func mib(bytes float64) string {
	switch {
	case bytes >= 1<<30:
		return fmt.Sprintf("%.2f GiB", bytes/(1<<30))
	case bytes >= 1<<20:
		return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", bytes/(1<<10))
}

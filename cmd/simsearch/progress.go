package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"
)

// progress draws a one-line bar with rate and ETA on a terminal, at most
// ten times a second, and nothing at all when the stream is not a terminal;
// in plain mode it writes a whole line of the same figures every interval
// instead (logs and cron mail).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	plain   time.Duration // plain mode: a line this often; 0 means the bar
	label   string
	unit    string // "B" formats sizes; anything else counts items
	start   time.Time
	last    time.Time
	drawn   bool
	current int64
	total   int64
}

func newProgress(w io.Writer, label, unit string) *progress {
	return &progress{w: w, on: isTerminal(w), label: label, unit: unit, start: time.Now()}
}

// Progress modes of --progress.
const (
	progressBar   = "bar"
	progressPlain = "plain"
	progressNone  = "none"
)

// newProgressMode is a progress in mode (bar, plain or none; "" is a bar
// on a terminal and plain lines elsewhere) writing plain lines every
// interval.
func newProgressMode(w io.Writer, label, unit, mode string, every time.Duration) *progress {
	p := newProgress(w, label, unit)
	if mode == "" {
		mode = progressPlain
		if p.on {
			mode = progressBar
		}
	}
	switch mode {
	case progressPlain:
		p.on, p.plain, p.last = true, every, p.start
	case progressNone:
		p.on = false
	}
	return p
}

// progressFlags are --progress and the plain lines' interval (hidden: for
// tests).
func progressFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "progress", Usage: "progress `MODE`: bar, plain (a line every 10s) or none (default: bar on a terminal, plain otherwise)"},
		&cli.DurationFlag{Name: "progress-every", Value: 10 * time.Second, Hidden: true, Usage: "interval of the plain progress lines"},
	}
}

// progressFor is the progress the command's flags ask for; --quiet
// without --progress means none.
func progressFor(c *cli.Command, w io.Writer, label, unit string) (*progress, error) {
	mode := c.String("progress")
	if mode == "" && c.Bool("quiet") {
		mode = progressNone
	}
	switch mode {
	case "", progressBar, progressPlain, progressNone:
	default:
		return nil, usagef("unknown --progress %q (bar, plain or none)", mode)
	}
	every := c.Duration("progress-every")
	if every <= 0 {
		return nil, usagef("--progress-every %s: must be positive", every)
	}
	return newProgressMode(w, label, unit, mode, every), nil
}

// restart starts the clock of the rate and the ETA now, for work that
// begins after slow preparation (building a model) the progress was made
// before.
func (p *progress) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.last = time.Now(), time.Now()
}

// set records done of total and redraws if enough time has passed.
func (p *progress) set(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current, p.total = done, total
	if p.on && p.plain > 0 {
		if time.Since(p.last) >= p.plain {
			p.last = time.Now()
			p.line()
		}
		return
	}
	if !p.on || time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	p.draw()
}

// figures are the counts, rate and ETA of a bar or a plain line.
func (p *progress) figures() (frac float64, counts, eta string) {
	if p.total > 0 {
		frac = float64(p.current) / float64(p.total)
	}
	if frac > 1 {
		frac = 1
	}
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.current) / el
	}
	eta = "--"
	if rate > 0 && p.total > p.current {
		eta = (time.Duration(float64(p.total-p.current)/rate) * time.Second).Round(time.Second).String()
	}
	if p.unit == "B" {
		counts = fmt.Sprintf("%s/%s %s/s", bytesize(p.current), bytesize(p.total), bytesize(int64(rate)))
	} else {
		counts = fmt.Sprintf("%d/%d %.1f %s/s", p.current, p.total, rate, p.unit)
	}
	return frac, counts, eta
}

// line writes a plain progress line.
func (p *progress) line() {
	frac, counts, eta := p.figures()
	fmt.Fprintf(p.w, "%s: %3.0f%% %s ETA %s (%s elapsed)\n", p.label, frac*100, counts, eta, time.Since(p.start).Round(time.Second))
}

func (p *progress) draw() {
	const width = 30
	frac, counts, eta := p.figures()
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	fmt.Fprintf(p.w, "\r\x1b[K%s %s %3.0f%% %s ETA %s", p.label, bar, frac*100, counts, eta)
	p.drawn = true
}

// done clears the bar line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.drawn && p.plain == 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func bytesize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

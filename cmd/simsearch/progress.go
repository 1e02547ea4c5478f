package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line bar with rate and ETA on a terminal, at most
// ten times a second, and nothing at all when the stream is not a terminal.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
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

// set records done of total and redraws if enough time has passed.
func (p *progress) set(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current, p.total = done, total
	if !p.on || time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progress) draw() {
	const width = 30
	frac := 0.0
	if p.total > 0 {
		frac = float64(p.current) / float64(p.total)
	}
	if frac > 1 {
		frac = 1
	}
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.current) / el
	}
	eta := "--"
	if rate > 0 && p.total > p.current {
		eta = (time.Duration(float64(p.total-p.current)/rate) * time.Second).Round(time.Second).String()
	}
	var counts string
	if p.unit == "B" {
		counts = fmt.Sprintf("%s/%s %s/s", bytesize(p.current), bytesize(p.total), bytesize(int64(rate)))
	} else {
		counts = fmt.Sprintf("%d/%d %.1f %s/s", p.current, p.total, rate, p.unit)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s %s %3.0f%% %s ETA %s", p.label, bar, frac*100, counts, eta)
	p.drawn = true
}

// done clears the bar line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.drawn {
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

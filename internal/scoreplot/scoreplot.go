package scoreplot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/simsearch/simsearch/internal/evaluate"
)

// Plot is what Write draws.
type Plot struct {
	Title     string
	Histogram evaluate.Histogram
	Marks     []Mark // vertical lines, drawn in order with their own style
}

// Mark is a threshold drawn as a vertical line and named in the legend.
type Mark struct {
	Label     string
	Threshold float32
}

// Formats are the image formats Write knows, by the name it takes.
var Formats = []string{"svg", "png"}

// maxBars bounds the bars of each distribution: the histogram's bins are
// merged until it fits, so that each bar holds enough pairs to read.
const maxBars = 50

// logRatio is how much higher one distribution's peak may be than the
// other's before the shares are drawn on a log scale.
const logRatio = 4

// width and height are the image's size: 756×454 pixels in PNG (96 dpi).
const width, height = 20 * vg.Centimeter, 12 * vg.Centimeter

// Write draws p as format ("svg" or "png") to w.
func Write(w io.Writer, format string, p Plot) error {
	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(width, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	default:
		return fmt.Errorf("plot: unknown format %q (svg or png)", format)
	}
	pl, err := build(p)
	if err != nil {
		return err
	}
	pl.Draw(draw.New(c))
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("plot: write: %w", err)
	}
	return nil
}

// Palette: true pairs orange, other pairs blue (readable by most
// colour-blind viewers), both translucent where they overlap.
var (
	trueColor  = color.NRGBA{R: 230, G: 120, B: 0, A: 150}
	otherColor = color.NRGBA{R: 40, G: 100, B: 200, A: 120}
	markColors = []color.Color{color.NRGBA{R: 200, A: 255}, color.Black, color.NRGBA{G: 140, A: 255}}
)

func build(p Plot) (*plot.Plot, error) {
	h := p.Histogram
	if len(h.True) == 0 || len(h.True) != len(h.Other) || !(h.Width > 0) {
		return nil, errors.New("plot: empty or malformed histogram")
	}
	merge := (len(h.True) + maxBars - 1) / maxBars
	barWidth := float64(h.Width) * float64(merge)
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = "cosine score"
	pl.Legend.Top = true
	pl.Legend.Left = true
	kinds := []struct {
		name   string
		counts []int
		fill   color.Color
	}{
		{"other pairs", h.Other, otherColor},
		{"true pairs", h.True, trueColor},
	}
	bins := make([][]plotter.HistogramBin, len(kinds))
	totals := make([]int, len(kinds))
	peaks := make([]float64, len(kinds))
	low := math.Inf(1) // the smallest share drawn
	for i, d := range kinds {
		bins[i], totals[i] = shares(d.counts, merge, float64(h.Start), barWidth)
		for _, b := range bins[i] {
			peaks[i] = math.Max(peaks[i], b.Weight)
			if b.Weight > 0 {
				low = math.Min(low, b.Weight)
			}
		}
	}
	peak := slices.Max(peaks)
	// One distribution piled in a few bins flattens the other to nothing
	// on a linear scale: then the shares are drawn on a log scale.
	logY := slices.Min(peaks) > 0 && peak/slices.Min(peaks) > logRatio
	bottom, top := 0.0, peak*1.35 // room above the bars for the legend
	scale := ""
	if logY {
		// Drawn as heights of log10(share/floor) on a linear axis with
		// ticks at the powers of ten: plot's own log axis centres its
		// label by the arithmetic mean of the range, which squeezes the
		// bars to make room for it.
		floor := low / 2
		for i := range bins {
			for j := range bins[i] {
				if w := bins[i][j].Weight; w > 0 {
					bins[i][j].Weight = math.Log10(w / floor)
				}
			}
		}
		top = math.Log10(peak * 5 / floor)
		var ticks []plot.Tick
		for d := math.Ceil(math.Log10(floor)); d <= math.Log10(peak*5); d++ {
			ticks = append(ticks, plot.Tick{Value: d - math.Log10(floor), Label: strconv.FormatFloat(math.Pow(10, d), 'g', -1, 64)})
		}
		pl.Y.Tick.Marker = plot.ConstantTicks(ticks)
		scale = ", log scale"
	}
	pl.Y.Label.Text = fmt.Sprintf("share of pairs per bin (%.2f wide%s)", barWidth, scale)
	for i, d := range kinds {
		hist := &plotter.Histogram{Bins: bins[i], Width: barWidth, FillColor: d.fill, LineStyle: draw.LineStyle{Color: d.fill, Width: vg.Points(0.5)}}
		pl.Add(hist)
		pl.Legend.Add(fmt.Sprintf("%s (%d)", d.name, totals[i]), hist)
	}
	for i, m := range p.Marks {
		x := float64(m.Threshold)
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: bottom}, {X: x, Y: top}})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		line.Color = markColors[i%len(markColors)]
		line.Width = vg.Points(1.5)
		if i > 0 {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		pl.Add(line)
		pl.Legend.Add(fmt.Sprintf("%s %.2f", m.Label, m.Threshold), line)
	}
	pl.Add(plotter.NewGrid())
	pl.Y.Min, pl.Y.Max = bottom, top
	return pl, nil
}

// shares merges counts by merge and scales them to shares of their total.
func shares(counts []int, merge int, start, barWidth float64) ([]plotter.HistogramBin, int) {
	var total int
	for _, n := range counts {
		total += n
	}
	bins := make([]plotter.HistogramBin, (len(counts)+merge-1)/merge)
	for i := range bins {
		bins[i].Min = start + float64(i)*barWidth
		bins[i].Max = bins[i].Min + barWidth
	}
	if total == 0 {
		return bins, 0
	}
	for k, n := range counts {
		bins[k/merge].Weight += float64(n) / float64(total)
	}
	return bins, total
}

package scoreplot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/evaluate"
)

var keep = flag.String("keep", "", "also write the test plots to this `DIR`, to look at them")

// testPlot has true pairs from 0.80 and other pairs up to 0.64, over
// 120 bins of 0.01 from -0.2: merged into bars of 0.03.
func testPlot() Plot {
	h := evaluate.Histogram{Start: -0.2, Width: 0.01, True: make([]int, 120), Other: make([]int, 120)}
	for k := range 84 {
		h.Other[k] = 40 - (k-42)*(k-42)/50
	}
	for k := 100; k < 120; k++ {
		h.True[k] = 2
	}
	return Plot{Title: "pair scores, test/rmac", Histogram: h, Marks: []Mark{{"best F1", 0.72}, {"model default", 0.7}}}
}

func write(t *testing.T, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, format, testPlot()); err != nil {
		t.Fatal(err)
	}
	if *keep != "" {
		if err := os.WriteFile(filepath.Join(*keep, "scoreplot."+format), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestWrite_PNG(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(write(t, "png")))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 756 || b.Dy() != 454 {
		t.Errorf("PNG is %dx%d, want 756x454", b.Dx(), b.Dy())
	}
	// The bars of both distributions and the red threshold line are drawn.
	if n := count(img, isTrueBar); n < 1000 {
		t.Errorf("%d pixels of true-pair bars, want a visible area", n)
	}
	if n := count(img, isOtherBar); n < 1000 {
		t.Errorf("%d pixels of other-pair bars, want a visible area", n)
	}
	if n := count(img, func(r, g, b uint32) bool { return r > 150 && g < 60 && b < 60 }); n < 100 {
		t.Errorf("%d red pixels, want the best threshold's line", n)
	}
}

// count is the number of pixels of img for which is(r, g, b) holds
// (8-bit channels).
func count(img image.Image, is func(r, g, b uint32) bool) int {
	var n int
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if is(r>>8, g>>8, b>>8) {
				n++
			}
		}
	}
	return n
}

// Translucent orange and blue over white.
func isTrueBar(r, g, b uint32) bool  { return r > 220 && g > 140 && g < 200 && b < 130 }
func isOtherBar(r, g, b uint32) bool { return r < 170 && b > 210 && g > 150 && g < 210 }

func TestWrite_SVG(t *testing.T) {
	text := svgText(t, write(t, "svg"))
	for _, want := range []string{"pair scores, test/rmac", "cosine score", "share of pairs per bin (0.03 wide)", "true pairs (40)", "other pairs", "best F1 0.72", "model default 0.70"} {
		if !strings.Contains(text, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

// TestWrite_LogScale: true pairs piled in one bin would flatten the other
// pairs on a linear scale.
func TestWrite_LogScale(t *testing.T) {
	p := testPlot()
	clear(p.Histogram.True)
	p.Histogram.True[119] = 40
	var b bytes.Buffer
	if err := Write(&b, "svg", p); err != nil {
		t.Fatal(err)
	}
	if text := svgText(t, b.Bytes()); !strings.Contains(text, "share of pairs per bin (0.03 wide, log scale)") {
		t.Errorf("SVG text %q does not say log scale", text)
	}
	if text := svgText(t, write(t, "svg")); strings.Contains(text, "log scale") {
		t.Errorf("peaks 0.15 and 0.05 drawn on a log scale")
	}
}

// svgText checks that data is an SVG document and returns its text.
func svgText(t *testing.T, data []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var root string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	return text.String()
}

func TestWrite_Bad(t *testing.T) {
	if err := Write(io.Discard, "gif", testPlot()); err == nil || !strings.Contains(err.Error(), `unknown format "gif"`) {
		t.Errorf("gif: %v", err)
	}
	if err := Write(io.Discard, "png", Plot{}); err == nil || !strings.Contains(err.Error(), "empty or malformed histogram") {
		t.Errorf("empty histogram: %v", err)
	}
}

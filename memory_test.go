package simsearch

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// peakMemoryLimit is the bound on `simsearch index` at default
// settings, whatever the folder holds.
const peakMemoryLimit = 400 << 20

// flipBits copies every sample photo into dir, n files in all (the set
// over again with another seed once exhausted), each byte with one bit
// flipped at rate (zzuf's default ratio is 0.004): damaged headers
// declare odd sizes, damaged scans decode partly or not at all.
func flipBits(t *testing.T, dir string, n int, rate float64) {
	t.Helper()
	paths, _ := filepath.Glob("testdata/photos/*")
	var photos [][]byte
	var names []string
	for _, p := range paths {
		if ext := filepath.Ext(p); ext == ".md" || ext == ".csv" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		photos, names = append(photos, b), append(names, filepath.Base(p))
	}
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(i), 15))
		b := bytes.Clone(photos[i%len(photos)])
		for j := range b {
			if r.Float64() < rate {
				b[j] ^= 1 << r.IntN(8)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d-%s", i, names[i%len(names)])), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// indexPeakRSS runs `simsearch index dir` at default settings and returns
// its peak resident memory and output.
func indexPeakRSS(t *testing.T, bin, dir string) (int64, string) {
	t.Helper()
	cmd := exec.Command(bin, "--db", filepath.Join(t.TempDir(), "s.db"), "--model", "vgg16-random", "index", dir)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	rss, err := runPeakRSS(cmd)
	if err != nil {
		t.Fatalf("index: %v\n%s", err, buf.Bytes())
	}
	return rss, buf.String()
}

// An index run over 300 bit-flipped photos (what zzuf makes of the sample
// set) stays under 400 MB: the network's batch and memory settings and
// the decode budget bound it, not what the files declare. With batch 8,
// ONNX Runtime's memory pattern on and no budget it peaked at 727-739 MB
// on a fresh graph cache and 636-638 MB on a warm one.
func TestIndex_PeakMemoryBitFlipped(t *testing.T) {
	if testing.Short() {
		t.Skip("long: indexes 300 files")
	}
	bin := cliWithModel(t)
	dir := t.TempDir()
	flipBits(t, dir, 300, 0.004)
	rss, out := indexPeakRSS(t, bin, dir)
	// Some survive the flips: the network ran, its memory is counted.
	if !strings.Contains(out, " added") || strings.Contains(out, " 0 added") {
		t.Fatalf("no bit-flipped photo was added, so the network never ran:\n%s", out)
	}
	t.Logf("peak RSS %d MiB over 300 bit-flipped photos", rss>>20)
	if rss > peakMemoryLimit {
		t.Errorf("peak RSS %d MiB, want under %d MiB", rss>>20, peakMemoryLimit>>20)
	}
}

// A hostile folder (the odd encodings and decompression bombs the
// hostile tests use, testdata/hostile, and big photos that must wait for
// the decode budget: 24 MP JPEGs and a 12 MP PNG that no decoder can
// shrink while decoding) also stays under 400 MB.
func TestIndex_PeakMemoryHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("long: decodes big images")
	}
	bin := cliWithModel(t)
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range oddImages(t) {
		write(name, b)
	}
	for _, n := range []uint32{40000, 65000} {
		for format, b := range imagetest.HugeHeaders(n) {
			write(fmt.Sprintf("bomb%d.%s", n, format), b)
		}
	}
	hostile, _ := filepath.Glob("testdata/hostile/*")
	for _, p := range hostile {
		if b, err := os.ReadFile(p); err == nil && filepath.Ext(p) != ".md" {
			write("hostile-"+filepath.Base(p), b)
		}
	}
	var big bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 6000, 4000))
	r := rand.New(rand.NewPCG(6, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(i/6000 + r.IntN(32))
	}
	if err := jpeg.Encode(&big, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		write(fmt.Sprintf("big%d.jpg", i), big.Bytes())
	}
	write("noise12mp.png", noisePNG(t, 4000, 3000))

	rss, out := indexPeakRSS(t, bin, dir)
	// The big photos are indexed, not skipped: they were decoded.
	for _, name := range []string{"big0.jpg", "big3.jpg", "noise12mp.png"} {
		if strings.Contains(out, "skipped "+filepath.Join(dir, name)) {
			t.Fatalf("%s was skipped:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "big0.jpg") && !strings.Contains(out, " added") {
		t.Fatalf("nothing added:\n%s", out)
	}
	t.Logf("peak RSS %d MiB over the hostile folder", rss>>20)
	if rss > peakMemoryLimit {
		t.Errorf("peak RSS %d MiB, want under %d MiB:\n%s", rss>>20, peakMemoryLimit>>20, out)
	}
}

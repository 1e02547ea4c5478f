package extractor

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	stddraw "image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// granted reports whether ch delivers within a short while; used only
// where the answer is expected to be yes (a no waits the full time).
func granted(ch <-chan int64) bool {
	select {
	case <-ch:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

func acquireAsync(b *budget, ctx context.Context, n int64) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		got, err := b.acquire(ctx, n)
		if err == nil {
			ch <- got
		}
	}()
	return ch
}

// waitQueued waits until n requests wait in b.
func waitQueued(t *testing.T, b *budget, n int) {
	t.Helper()
	for range 2000 {
		b.mu.Lock()
		k := len(b.waiting)
		b.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d requests never queued", n)
}

// A big request is served before smaller ones that came after it, even
// though they would fit: otherwise a stream of small images could hold
// a big one back for ever.
func TestBudget_FirstComeFirstServed(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	if got, err := b.acquire(ctx, 60); err != nil || got != 60 {
		t.Fatalf("acquire 60 of 100: %d, %v", got, err)
	}
	big := acquireAsync(b, ctx, 80)
	waitQueued(t, b, 1)
	// 10 bytes would fit beside the 60, but wait behind the 80.
	small := acquireAsync(b, ctx, 10)
	waitQueued(t, b, 2)
	b.release(60)
	if !granted(big) || !granted(small) {
		t.Fatal("80 and 10 bytes not both granted once 100 were free")
	}
	b.mu.Lock()
	used := b.used
	b.mu.Unlock()
	if used != 90 {
		t.Fatalf("used %d after granting 80 and 10, want 90", used)
	}
}

// A request over the whole budget is cut to it and runs alone.
func TestBudget_OversizedRunsAlone(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	got, err := b.acquire(ctx, 1<<40)
	if err != nil || got != 100 {
		t.Fatalf("acquire over the budget: %d, %v; want the whole budget", got, err)
	}
	next := acquireAsync(b, ctx, 1)
	waitQueued(t, b, 1)
	b.release(got)
	if !granted(next) {
		t.Fatal("1 byte not granted after the whole budget was released")
	}
}

// A cancelled wait returns ctx's error and leaves nothing reserved nor
// queued, so the requests behind it go on.
func TestBudget_CancelledWait(t *testing.T) {
	b := newBudget(100)
	if _, err := b.acquire(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := b.acquire(ctx, 50); errc <- err }()
	waitQueued(t, b, 1)
	after := acquireAsync(b, context.Background(), 100)
	waitQueued(t, b, 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v, want context.Canceled", err)
	}
	b.release(100)
	if !granted(after) {
		t.Fatal("the request behind a cancelled one was not granted")
	}
}

func encodeJPEG(t *testing.T, w, h int, progressive bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photoLike(w, h), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	if !progressive {
		return buf.Bytes()
	}
	// image/jpeg writes baseline only; mark the frame progressive (SOF2)
	// for the header walk, which is all decodeCost reads of it.
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	b[i+1] = 0xc2
	return b
}

// decodeCost is at least the RGB the decoder returns, for the photos
// and for each format; a progressive JPEG costs its coefficients on top;
// what is refused from its header costs next to nothing.
func TestDecodeCost(t *testing.T) {
	o := &DecodeOptions{MinSide: MinSideFor(vgg16Pre())}
	paths, _ := filepath.Glob("../../testdata/photos/*")
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := DecodeBytes(b, o)
		if err != nil {
			continue // not an image we decode (SOURCES.md, variants.csv)
		}
		n++
		if c := decodeCost(b, o); c < int64(len(img.Pix)) {
			t.Errorf("%s: cost %d below the %d bytes of RGB it decodes to", filepath.Base(p), c, len(img.Pix))
		}
	}
	if n < 10 {
		t.Fatalf("only %d sample photos decoded", n)
	}

	base, prog := encodeJPEG(t, 4000, 3000, false), encodeJPEG(t, 4000, 3000, true)
	if !jpegProgressive(prog) || jpegProgressive(base) {
		t.Fatalf("progressive: %v for SOF2, %v for SOF0", jpegProgressive(prog), jpegProgressive(base))
	}
	cb, cp := decodeCost(base, o), decodeCost(prog, o)
	if coef := int64(2 * 3 * 4000 * 3000); cp-cb != coef {
		t.Errorf("progressive 12 MP JPEG costs %d more than baseline, want its %d bytes of coefficients", cp-cb, coef)
	}
	if libjpegAvailable && cb > 16<<20 {
		t.Errorf("baseline 12 MP JPEG costs %d bytes: libjpeg decodes it at 1/4 scale, a few MB", cb)
	}

	var pb bytes.Buffer
	m := image.NewNRGBA(image.Rect(0, 0, 2000, 1000))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	m.Set(0, 0, color.NRGBA{1, 2, 3, 4})
	if err := png.Encode(&pb, m); err != nil {
		t.Fatal(err)
	}
	if c, full := decodeCost(pb.Bytes(), o), int64(4*2000*1000); c < full {
		t.Errorf("PNG 2000×1000 costs %d, below the %d bytes image/png decodes it to", c, full)
	}

	for format, h := range imagetest.HugeHeaders(40000) {
		if c := decodeCost(h, o); c != minDecodeCost {
			t.Errorf("%s declaring 40000×40000 (over MaxPixels) costs %d, want %d: it is refused from the header", format, c, minDecodeCost)
		}
	}
	if c := decodeCost([]byte("not an image at all"), o); c != minDecodeCost {
		t.Errorf("text costs %d, want %d", c, minDecodeCost)
	}
}

// bigImages are large images in every format a Go decoder reads here,
// encoded in memory: RGB and grey, 16-bit and paletted PNG, TIFF plain
// and deflated, GIF, BMP and a baseline JPEG; only those named, when
// names are given.
func bigImages(t *testing.T, w, h int, names ...string) map[string][]byte {
	t.Helper()
	src := photoLike(w, h)
	rgba := image.NewNRGBA(src.Bounds())
	stddraw.Draw(rgba, rgba.Bounds(), src, image.Point{}, stddraw.Src)
	grey := image.NewGray(src.Bounds())
	stddraw.Draw(grey, grey.Bounds(), src, image.Point{}, stddraw.Src)
	deep := image.NewNRGBA64(src.Bounds())
	stddraw.Draw(deep, deep.Bounds(), src, image.Point{}, stddraw.Src)
	pal := image.NewPaletted(src.Bounds(), palette.Plan9)
	stddraw.Draw(pal, pal.Bounds(), src, image.Point{}, stddraw.Src)
	out := map[string][]byte{}
	enc := func(name string, f func(w *bytes.Buffer) error) {
		if len(names) > 0 && !slices.Contains(names, name) {
			return
		}
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
		out[name] = buf.Bytes()
	}
	enc("rgba.png", func(w *bytes.Buffer) error { return png.Encode(w, rgba) })
	enc("grey.png", func(w *bytes.Buffer) error { return png.Encode(w, grey) })
	enc("16-bit.png", func(w *bytes.Buffer) error { return png.Encode(w, deep) })
	enc("paletted.png", func(w *bytes.Buffer) error { return png.Encode(w, pal) })
	enc("plain.tiff", func(w *bytes.Buffer) error { return tiff.Encode(w, rgba, nil) })
	enc("deflate.tiff", func(w *bytes.Buffer) error {
		return tiff.Encode(w, rgba, &tiff.Options{Compression: tiff.Deflate})
	})
	enc("first.gif", func(w *bytes.Buffer) error { return gif.Encode(w, pal, nil) })
	enc("rgb.bmp", func(w *bytes.Buffer) error { return bmp.Encode(w, rgba) })
	enc("baseline.jpg", func(w *bytes.Buffer) error { return jpeg.Encode(w, src, nil) })
	return out
}

// allocated is how many bytes fn allocates on the Go heap: none of it
// can be freed before fn returns and still be missing from the count, so
// it bounds what fn holds at once from above.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// decodeCost is at least what decoding allocates, format by format, for
// big images (where an estimate too low lets a folder of them past the
// budget) and for the sample photos, at full size and shrinking.
func TestDecodeCost_CoversWhatDecodingAllocates(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates beside the decoders; make test runs this test without -race")
	}
	inputs := bigImages(t, 3000, 2000)
	paths, _ := filepath.Glob("../../testdata/photos/*")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && Sniff(b) != "" {
			inputs[filepath.Base(p)] = b
		}
	}
	for _, minSide := range []int{0, MinSideFor(vgg16Pre())} {
		o := &DecodeOptions{MinSide: minSide}
		for name, b := range inputs {
			cost := decodeCost(b, o)
			var err error
			got := allocated(func() { _, _, err = DecodeBytes(b, o) })
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got > uint64(cost) {
				t.Errorf("%s (MinSide %d): decoding allocated %d bytes, over its cost %d", name, minSide, got, cost)
			}
		}
	}
}

// A camera raw file costs what its preview does, and a HEIC or AVIF at
// least libheif's decoded planes and RGB: not the little of a refused
// header, which would let a folder of them decode all at once.
func TestDecodeCost_HEIFAndRaw(t *testing.T) {
	o := &DecodeOptions{MinSide: MinSideFor(vgg16Pre())}
	preview := bigImages(t, 3000, 2000, "baseline.jpg")["baseline.jpg"]
	raw := dngLike(preview, jpegOf(t, image.NewGray(image.Rect(0, 0, 40, 30))), 1)
	if got, want := decodeCost(raw, &DecodeOptions{MinSide: o.MinSide, Name: "x.dng"}), decodeCost(preview, o); got != want || got <= minDecodeCost {
		t.Errorf("DNG with a 6 MP preview costs %d, want its preview's %d", got, want)
	}
	f := heifFixtures(t)
	for _, name := range []string{"8-bit.heic", "10-bit.heic", "8-bit.avif"} {
		b := imagetest.WithSize(f[name], 4000, 3000)
		sample := int64(1)
		if strings.HasPrefix(name, "10") {
			sample = 2
		}
		if got, least := decodeCost(b, o), 4000*3000*(3*sample+3); got < least {
			t.Errorf("%s declaring 4000×3000 costs %d, under the %d bytes of its planes and RGB", name, got, least)
		}
		if got := decodeCost(imagetest.WithSize(f[name], 100000, 100000), o); got != minDecodeCost {
			t.Errorf("%s declaring 100000×100000 costs %d, want %d: it is refused from its header", name, got, minDecodeCost)
		}
	}
}

// A folder of big PNGs decoded by four workers through the budget, as
// Sources does: what the decodes in flight allocate (measured one by one
// first) never adds up to more than the budget, and the PNG bigger than
// the budget decodes alone.
func TestBudget_BigPNGsStayWithin(t *testing.T) {
	o := &DecodeOptions{MinSide: MinSideFor(vgg16Pre())}
	small := bigImages(t, 1600, 1200, "rgba.png")["rgba.png"] // 7.7 MB as NRGBA: two fit in the budget below
	big := bigImages(t, 3000, 2000, "rgba.png")["rgba.png"]   // 24 MB: over it
	files := [][]byte{small, small, small, small, small, big, small, small}
	alloc := make([]int64, len(files))
	for i, b := range files {
		alloc[i] = int64(allocated(func() { DecodeBytes(b, o) }))
	}
	const size = 20 << 20
	b := newBudget(size)
	var mu sync.Mutex
	var inFlight, most int64
	alone := true
	holders := 0
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				held, err := b.acquire(context.Background(), decodeCost(files[i], o))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inFlight += alloc[i]
				holders++
				most = max(most, inFlight)
				if holders > 1 && (alloc[i] > size || inFlight-alloc[i] > size) {
					alone = false
				}
				mu.Unlock()
				if _, _, err := DecodeBytes(files[i], o); err != nil {
					t.Error(err)
				}
				mu.Lock()
				inFlight -= alloc[i]
				holders--
				mu.Unlock()
				b.release(held)
			}
		}()
	}
	for i := range files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if most > max(size, alloc[5]) {
		t.Errorf("decodes in flight allocated %d bytes at once, over the %d budget (the big PNG alone: %d)", most, size, alloc[5])
	}
	if !alone {
		t.Error("the PNG over the budget decoded beside another")
	}
	if alloc[0] < 4*1600*1200 || alloc[5] < size {
		t.Fatalf("decodes allocated %d and %d bytes: the measure is broken", alloc[0], alloc[5])
	}
}

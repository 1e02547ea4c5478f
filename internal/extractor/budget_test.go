package extractor

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

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

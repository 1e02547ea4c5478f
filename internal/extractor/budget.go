package extractor

import (
	"bytes"
	"context"
	"image/color"
	"sync"
)

// DefaultDecodeBudget is Options.DecodeBudget when none is set: the most
// memory the decoding goroutines of one Extractor hold at once, by the
// estimate of decodeCost. 64 MiB is a 12 MP progressive JPEG and a few
// baseline ones, or one 20 MP PNG; a bigger image waits until it can
// decode alone. With the network's own memory (see SessionOptions) it
// keeps `simsearch index` under 400 MB whatever the folder holds.
const DefaultDecodeBudget = 32 << 20

// minDecodeCost is charged for an input whose header says nothing
// useful: the decoder refuses it at once, holding little.
const minDecodeCost = 64 << 10

// budget is a weighted semaphore over bytes, first come first served, so
// that a big image is not passed over forever by small ones. A request
// over the whole budget is cut to it: that image decodes alone.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiting []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newBudget(size int64) *budget { return &budget{size: size} }

// acquire reserves n bytes (at most the whole budget), waiting for them
// unless ctx is done first, and returns what was reserved, for release.
func (b *budget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.size)
	b.mu.Lock()
	if len(b.waiting) == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiting = append(b.waiting, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: hand it back
			b.used -= n
		default:
			for i, x := range b.waiting {
				if x == w {
					b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
					break
				}
			}
		}
		b.grant()
		return 0, ctx.Err()
	}
}

// release returns n bytes reserved by acquire.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.grant()
	b.mu.Unlock()
}

// grant wakes the waiters at the head of the queue that now fit; b.mu is
// held.
func (b *budget) grant() {
	for len(b.waiting) > 0 && b.used+b.waiting[0].n <= b.size {
		w := b.waiting[0]
		b.waiting = b.waiting[1:]
		b.used += w.n
		close(w.ready)
	}
}

// decodeCost estimates from its header the most memory decoding b holds
// at once with o: the RGB result, plus the full-size image a Go decoder
// makes before shrinking it, or the coefficients libjpeg keeps for a
// progressive JPEG. Inputs the decoder refuses from their header (not an
// image, corrupt, over MaxPixels) cost minDecodeCost.
func decodeCost(b []byte, o *DecodeOptions) int64 {
	var opts DecodeOptions
	if o != nil {
		opts = *o
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	format := Sniff(b)
	cfgFn, _ := codec(format)
	if cfgFn == nil {
		return minDecodeCost
	}
	cfg, err := cfgFn(bytes.NewReader(b))
	if err != nil || checkSize(cfg.Width, cfg.Height, opts.MaxPixels) != nil {
		return minDecodeCost
	}
	w, h := int64(cfg.Width), int64(cfg.Height)
	if format == FormatJPEG && libjpegAvailable {
		d := int64(1)
		for _, s := range []int64{8, 4, 2} { // as jpegScale: libjpeg rounds up
			if min((w+s-1)/s, (h+s-1)/s) >= int64(opts.MinSide) && opts.MinSide > 0 {
				d = s
				break
			}
		}
		sw, sh := (w+d-1)/d, (h+d-1)/d
		k := int64(shrinkFactor(int(sw), int(sh), opts.MinSide))
		cost := 3*sw*sh/(k*k) + minDecodeCost
		if jpegProgressive(b) {
			// 64 two-byte coefficients per 8×8 block of each component,
			// all of them at full resolution at worst.
			cost += 2 * int64(jpegComponents(cfg.ColorModel)) * w * h
		}
		return cost
	}
	k := int64(shrinkFactor(cfg.Width, cfg.Height, opts.MinSide))
	return bytesPerPixel(cfg.ColorModel)*w*h + 3*w*h/(k*k) + minDecodeCost
}

// bytesPerPixel is what a Go decoder's image takes per pixel in model m.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	return 4
}

func jpegComponents(m color.Model) int {
	switch m {
	case color.GrayModel:
		return 1
	case color.CMYKModel:
		return 4
	}
	return 3
}

// jpegProgressive reports whether the first frame header of the JPEG b is
// a progressive one (SOF2, SOF6, SOF10, SOF14), walking the marker
// segments before it.
func jpegProgressive(b []byte) bool {
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return false
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			return m&3 == 2
		}
		i += 2 + (int(b[i+2])<<8 | int(b[i+3]))
	}
	return false
}

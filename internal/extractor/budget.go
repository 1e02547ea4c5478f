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
// at once with o: the RGB result, plus what each format's decoder makes
// before it is shrunk: libjpeg's scaled output (and a progressive JPEG's
// coefficients), a Go decoder's full-size image (twice over for an
// interlaced PNG, whose passes are images of their own, five times for a
// TIFF, whose strips are read whole first), libheif's planes for HEIC
// and AVIF (heifCost), for a camera raw file its preview's cost, and a
// second RGB when the EXIF orientation turns the image.
// Inputs the decoder refuses from their header (not an image, corrupt,
// over MaxPixels) cost minDecodeCost.
func decodeCost(b []byte, o *DecodeOptions) int64 {
	var opts DecodeOptions
	if o != nil {
		opts = *o
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	format := Sniff(b)
	if format == FormatTIFF && RawExtension(opts.Name) {
		format = FormatRAW
	}
	switch format {
	case FormatHEIC, FormatAVIF:
		return heifCost(b, opts)
	case FormatRAW:
		jpg, _, err := rawPreview(b)
		if err != nil || Sniff(jpg) != FormatJPEG {
			return minDecodeCost
		}
		opts.Name = ""
		return decodeCost(jpg, &opts)
	}
	cfgFn, _ := codec(format)
	if cfgFn == nil {
		return minDecodeCost
	}
	cfg, err := cfgFn(bytes.NewReader(b))
	if err != nil || checkSize(cfg.Width, cfg.Height, opts.MaxPixels) != nil {
		return minDecodeCost
	}
	w, h := int64(cfg.Width), int64(cfg.Height)
	// Turning an image by its EXIF orientation makes a second RGB.
	copies := int64(1)
	if exifOrientation(format, b) > 1 {
		copies = 2
	}
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
		cost := copies*3*sw*sh/(k*k) + minDecodeCost
		if jpegProgressive(b) {
			// 64 two-byte coefficients per 8×8 block of each component,
			// all of them at full resolution at worst.
			cost += 2 * int64(jpegComponents(cfg.ColorModel)) * w * h
		}
		return cost
	}
	full := bytesPerPixel(cfg.ColorModel) * w * h
	switch {
	case format == FormatPNG:
		// Its row buffers and inflater, measured at under 6% of the
		// image (TestDecodeCost_CoversWhatDecodingAllocates).
		full += full/16 + 512<<10
		if len(b) > 28 && b[28] == 1 {
			full *= 2 // Adam7: each pass decoded into an image of its own, then merged
		}
	case format == FormatTIFF:
		// Each strip or tile is read or inflated whole through a growing
		// buffer before it is copied into the image: measured at up to
		// 3.7 times the image's bytes for one deflated strip.
		full *= 5
	case format == FormatJPEG && jpegProgressive(b):
		// image/jpeg keeps 64 four-byte coefficients per 8×8 block of
		// each component until the last scan.
		full += 4 * int64(jpegComponents(cfg.ColorModel)) * w * h
	}
	k := int64(shrinkFactor(cfg.Width, cfg.Height, opts.MinSide))
	return full + copies*3*w*h/(k*k) + minDecodeCost
}

// heifCost is what decoding the HEIC or AVIF b holds at once, from its
// header: libheif's decoded planes (three samples a pixel at worst, as
// 4:4:4, of two bytes above 8 bits), the interleaved 8-bit RGB (RGBA with
// alpha) it converts them to, the alpha plane, and the shrunk RGB copy;
// the WebAssembly fallback hands a Go image over as well. A 12 MP phone
// photo costs about 72 MB: more than DefaultDecodeBudget, so it decodes
// alone, as libheif gives no way to decode it smaller.
func heifCost(b []byte, o DecodeOptions) int64 {
	hdr, err := heifCheck(b, o.MaxPixels)
	if err != nil {
		return minDecodeCost
	}
	px := int64(hdr.width) * int64(hdr.height)
	sample := int64(1)
	if hdr.bits > 8 {
		sample = 2
	}
	planes, rgb := 3*sample, int64(3)
	if hdr.alpha {
		planes, rgb = planes+sample, 4
	}
	cost := px * (planes + rgb)
	if !libheifAvailable {
		cost += 4 * px // the fallback's image.Image
	}
	k := int64(shrinkFactor(hdr.width, hdr.height, o.MinSide))
	return cost + 3*px/(k*k) + minDecodeCost
}

// bytesPerPixel is what a Go decoder's image takes per pixel in model m.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1 // image.Paletted
	}
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

package extractor

import (
	"bytes"
	"fmt"
	"image"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"
)

// decodeHEIFFallback decodes a HEIC or AVIF file without cgo, through
// github.com/gen2brain/heic and /avif: 20 to 60 times slower than libheif
// in WebAssembly, but the same pixels. The header is checked against
// o.MaxPixels first, as decodeHEIF does. The HEIC decoder is libheif,
// which applies the container's rotation and mirror; the AVIF one is
// libavif, which leaves them to the caller, so they are applied here.
// Images with an alpha channel are refused (ErrUnsupported): the modules
// decode them wrongly.
func decodeHEIFFallback(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	hdr, err := heifCheck(b, o.MaxPixels)
	if err != nil {
		return nil, info, err
	}
	if hdr.alpha {
		// gen2brain's decoders drop the alpha plane (with libheif before
		// 1.17) or garble the colours (in WebAssembly): refuse rather
		// than index wrong pixels.
		return nil, info, fmt.Errorf("%w %s with an alpha channel without libheif (cgo)", ErrUnsupported, info.Format)
	}
	dec, transformed := heic.Decode, true
	if heifIsAVIF(info.Format, hdr) {
		dec, transformed = avif.Decode, false
	}
	m, err := dec(bytes.NewReader(b))
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s: %w", ErrCorrupt, info.Format, err)
	}
	r := m.Bounds()
	if r.Empty() || int64(r.Dx())*int64(r.Dy()) > o.MaxPixels {
		return nil, info, fmt.Errorf("%w: %s frame is %d×%d", ErrCorrupt, info.Format, r.Dx(), r.Dy())
	}
	img := toRGB(m, shrinkFactor(r.Dx(), r.Dy(), o.MinSide))
	if !transformed {
		for _, t := range hdr.orient {
			img = orient(img, t)
		}
	}
	info.Width, info.Height = orientedSize(r, hdr.orient, transformed)
	return img, info, nil
}

// heifIsAVIF tells AV1 content from HEVC: by the brand Sniff found, or
// for a file branded only mif1 or msf1 (either may follow), by the
// primary item's type.
func heifIsAVIF(format string, h heifHeader) bool {
	return format == FormatAVIF || h.item == "av01"
}

// orientedSize is the full size of a decoded frame r after the
// transforms, applied already or not.
func orientedSize(r image.Rectangle, orient []int, transformed bool) (int, int) {
	w, h := r.Dx(), r.Dy()
	if transformed {
		return w, h
	}
	for _, o := range orient {
		if o >= 5 {
			w, h = h, w
		}
	}
	return w, h
}

// DecodeHEIFFallback decodes a HEIC or AVIF file as DecodeBytes does, but
// always through the pure-Go fallback, even in a build with libheif: for
// comparing the two paths (make bench) and checking they agree.
func DecodeHEIFFallback(b []byte, opts *DecodeOptions) (*RGB, Info, error) {
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	info := Info{Format: Sniff(b)}
	if info.Format != FormatHEIC && info.Format != FormatAVIF {
		return nil, info, fmt.Errorf("%w: not HEIC or AVIF", ErrNotImage)
	}
	return decodeHEIFFallback(b, o, info)
}

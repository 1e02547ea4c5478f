//go:build cgo && !nolibheif

package extractor

/*
#cgo LDFLAGS: -lheif
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <libheif/heif.h>

// sheif is one decode: the context, the primary image's handle and, once
// decoded, the image and its interleaved plane.
typedef struct {
	struct heif_context *ctx;
	struct heif_image_handle *handle;
	struct heif_image *img;
	const uint8_t *pix;
	int w, h, stride, alpha;
	char msg[256];
} sheif;

static int sheif_fail(sheif *s, struct heif_error e) {
	const char *m = e.message ? e.message : "unknown error";
	size_t n;
	snprintf(s->msg, sizeof s->msg, "%s", m);
	// Some messages end in a newline; ours are one line.
	for (n = strlen(s->msg); n > 0 && (s->msg[n-1] == '\n' || s->msg[n-1] == ' '); n--)
		s->msg[n-1] = 0;
	return -1;
}

// sheif_open parses the n bytes at b, which must stay where they are until
// sheif_close, and opens the primary image: its size after libheif's
// transforms (rotation, mirror, crop) lands in s->w, s->h. libheif's own
// security limits (its default maximum side, bounded box and item counts)
// are left as they are, on top of the ispe check made before.
static int sheif_open(sheif *s, const void *b, size_t n) {
	struct heif_error e;
	s->ctx = heif_context_alloc();
	if (!s->ctx) {
		snprintf(s->msg, sizeof s->msg, "out of memory");
		return -1;
	}
	e = heif_context_read_from_memory_without_copy(s->ctx, b, n, NULL);
	if (e.code != heif_error_Ok)
		return sheif_fail(s, e);
	e = heif_context_get_primary_image_handle(s->ctx, &s->handle);
	if (e.code != heif_error_Ok)
		return sheif_fail(s, e);
	s->w = heif_image_handle_get_width(s->handle);
	s->h = heif_image_handle_get_height(s->handle);
	s->alpha = heif_image_handle_has_alpha_channel(s->handle);
	return 0;
}

// sheif_decode decodes the primary image to interleaved 8-bit RGB (RGBA
// with alpha), 10- and 12-bit images scaled down to 8 bits, rotation and
// mirror applied.
static int sheif_decode(sheif *s) {
	struct heif_error e;
	struct heif_decoding_options *o = heif_decoding_options_alloc();
	o->convert_hdr_to_8bit = 1;
	e = heif_decode_image(s->handle, &s->img, heif_colorspace_RGB,
		s->alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, o);
	heif_decoding_options_free(o);
	if (e.code != heif_error_Ok)
		return sheif_fail(s, e);
	s->w = heif_image_get_width(s->img, heif_channel_interleaved);
	s->h = heif_image_get_height(s->img, heif_channel_interleaved);
	s->pix = heif_image_get_plane_readonly(s->img, heif_channel_interleaved, &s->stride);
	if (!s->pix || heif_image_get_bits_per_pixel_range(s->img, heif_channel_interleaved) != 8) {
		snprintf(s->msg, sizeof s->msg, "decoder returned no 8-bit RGB plane");
		return -1;
	}
	return 0;
}

static void sheif_close(sheif *s) {
	if (s->img)
		heif_image_release(s->img);
	if (s->handle)
		heif_image_handle_release(s->handle);
	if (s->ctx)
		heif_context_free(s->ctx);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// heifDecoderName says which decoder HEIC and AVIF files go through.
func heifDecoderName() string {
	return "libheif " + C.GoString(C.heif_get_version()) + " (cgo)"
}

// decodeHEIF decodes a HEIC or AVIF file with the system libheif. The
// header is read (heifCheck) and checked against o.MaxPixels before
// libheif sees the file. libheif applies the container's rotation and
// mirror, so no EXIF orientation is applied on top; Info has the size
// after them, and the image is shrunk by the box filter as o.MinSide
// allows.
func decodeHEIF(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	if _, err := heifCheck(b, o.MaxPixels); err != nil {
		return nil, info, err
	}
	s := (*C.sheif)(C.calloc(1, C.sizeof_sheif))
	var pin runtime.Pinner // libheif reads b in place until sheif_close
	pin.Pin(&b[0])
	defer func() {
		C.sheif_close(s)
		C.free(unsafe.Pointer(s))
		pin.Unpin()
	}()
	if C.sheif_open(s, unsafe.Pointer(&b[0]), C.size_t(len(b))) != 0 {
		return nil, info, fmt.Errorf("%w: %s header: %s", ErrCorrupt, info.Format, C.GoString(&s.msg[0]))
	}
	// The transformed size can differ from ispe (a crop); check it too.
	if err := checkSize(int(s.w), int(s.h), o.MaxPixels); err != nil {
		return nil, info, err
	}
	if C.sheif_decode(s) != 0 {
		return nil, info, fmt.Errorf("%w: %s: %s", ErrCorrupt, info.Format, C.GoString(&s.msg[0]))
	}
	w, h, stride := int(s.w), int(s.h), int(s.stride)
	nc := 3
	if s.alpha != 0 {
		nc = 4
	}
	if w <= 0 || h <= 0 || stride < nc*w {
		return nil, info, fmt.Errorf("%w: %s: decoded plane is %d×%d, %d bytes a row", ErrCorrupt, info.Format, w, h, stride)
	}
	pix := unsafe.Slice((*byte)(unsafe.Pointer(s.pix)), stride*(h-1)+nc*w)
	img := interleavedToRGB(pix, stride, w, h, nc, shrinkFactor(w, h, o.MinSide))
	info.Width, info.Height = w, h
	return img, info, nil
}

// interleavedToRGB copies w×h pixels of nc (3, or 4 with straight alpha)
// bytes each, rows stride bytes apart, into packed RGB shrunk by k with
// the box filter, compositing alpha over white.
func interleavedToRGB(pix []byte, stride, w, h, nc, k int) *RGB {
	k = max(1, min(k, w, h))
	ow, oh := w/k, h/k
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, 3*ow*oh)}
	row := make([]uint8, 3*w)
	conv := func(y int) []uint8 {
		src := pix[y*stride : y*stride+nc*w]
		if nc == 3 {
			return src
		}
		for x := range w {
			s := src[4*x : 4*x+4 : 4*x+4]
			a := uint32(s[3])
			row[3*x] = overWhite(s[0], a)
			row[3*x+1] = overWhite(s[1], a)
			row[3*x+2] = overWhite(s[2], a)
		}
		return row
	}
	if k == 1 {
		for y := range h {
			copy(out.Pix[3*y*w:3*(y+1)*w], conv(y))
		}
		return out
	}
	box := newBox(ow*k, k)
	for oy := range oh {
		for y := oy * k; y < (oy+1)*k; y++ {
			box.add(conv(y))
		}
		box.emit(out.Pix[3*oy*ow:3*(oy+1)*ow], k)
	}
	return out
}

// libheifAvailable says HEIC and AVIF files go through libheif.
const libheifAvailable = true

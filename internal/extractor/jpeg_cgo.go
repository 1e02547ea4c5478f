//go:build cgo

package extractor

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// sjpeg is one decode. The libjpeg struct comes first so that the
// callbacks, which get a pointer to it, can reach the rest.
typedef struct {
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr err;
	struct jpeg_progress_mgr progress;
	jmp_buf jump;
	int max_scans;
	char msg[JMSG_LENGTH_MAX];
} sjpeg;

// sjpeg_error_exit keeps the message and jumps back to the sjpeg_ function
// that called into libjpeg, instead of libjpeg's default exit().
static void sjpeg_error_exit(j_common_ptr c) {
	sjpeg *s = (sjpeg *)c;
	(*c->err->format_message)(c, s->msg);
	longjmp(s->jump, 1);
}

// sjpeg_emit_message turns the warnings that mean pixel data is missing
// (truncated file, damaged entropy data: libjpeg would paint the rest
// grey) into errors, as image/jpeg does; the others (extraneous bytes
// before a marker, unknown JFIF version, ...) leave the picture intact
// and are ignored. Nothing is ever printed.
static void sjpeg_emit_message(j_common_ptr c, int level) {
	if (level >= 0)
		return;
	switch (c->err->msg_code) {
	case JWRN_JPEG_EOF:
	case JWRN_HIT_MARKER:
	case JWRN_MUST_RESYNC:
	case JWRN_HUFF_BAD_CODE:
	case JWRN_ARITH_BAD_CODE:
		sjpeg_error_exit(c);
	}
	c->err->num_warnings++;
}

static void sjpeg_output_message(j_common_ptr c) {}

// sjpeg_progress refuses files with more scans than any encoder writes:
// each scan of a progressive file walks the whole coefficient buffer, so
// thousands of tiny scans would take minutes.
static void sjpeg_progress(j_common_ptr c) {
	sjpeg *s = (sjpeg *)c;
	if (s->d.input_scan_number > s->max_scans) {
		s->err.msg_code = 0;
		snprintf(s->msg, sizeof s->msg, "more than %d progressive scans", s->max_scans);
		longjmp(s->jump, 1);
	}
}

// sjpeg_open sets up s (zeroed memory) and reads the header of the n bytes
// at b, which must stay where they are until sjpeg_close. It returns 0, or
// -1 with the reason in s->msg.
static int sjpeg_open(sjpeg *s, const unsigned char *b, unsigned long n, long max_memory, int max_scans) {
	s->d.err = jpeg_std_error(&s->err);
	s->err.error_exit = sjpeg_error_exit;
	s->err.emit_message = sjpeg_emit_message;
	s->err.output_message = sjpeg_output_message;
	s->progress.progress_monitor = sjpeg_progress;
	s->max_scans = max_scans;
	if (setjmp(s->jump))
		return -1;
	jpeg_create_decompress(&s->d);
	s->d.progress = &s->progress;
	// Whole-image buffers (a progressive file's coefficients) larger than
	// this make libjpeg fail instead of allocating.
	s->d.mem->max_memory_to_use = max_memory;
	jpeg_mem_src(&s->d, b, n);
	jpeg_read_header(&s->d, TRUE);
	return 0;
}

// sjpeg_start chooses the scale (1/denom) and output colours (RGB, or
// CMYK for 4-component files) and allocates the decoder's buffers.
static int sjpeg_start(sjpeg *s, int denom, int cmyk) {
	if (setjmp(s->jump))
		return -1;
	s->d.scale_num = 1;
	s->d.scale_denom = denom;
	s->d.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	s->d.dct_method = JDCT_ISLOW;
	s->d.do_fancy_upsampling = FALSE;
	jpeg_start_decompress(&s->d);
	return 0;
}

// sjpeg_read decodes the next rows scanlines into dst, stride bytes
// apart, and returns how many it decoded, or -1.
static int sjpeg_read(sjpeg *s, unsigned char *dst, long stride, int rows) {
	JSAMPROW ptr[16];
	int done = 0;
	if (setjmp(s->jump))
		return -1;
	while (done < rows && s->d.output_scanline < s->d.output_height) {
		int i, n = rows - done;
		JDIMENSION got;
		if (n > 16)
			n = 16;
		for (i = 0; i < n; i++)
			ptr[i] = dst + (done + i) * stride;
		got = jpeg_read_scanlines(&s->d, ptr, n);
		if (got == 0) { // a memory source never suspends; do not spin
			s->err.msg_code = 0;
			snprintf(s->msg, sizeof s->msg, "decoder made no progress");
			return -1;
		}
		done += got;
	}
	return done;
}

// sjpeg_close frees what libjpeg allocated; it is safe after any failure.
// jpeg_finish_decompress is not needed: whatever follows the last
// scanline read cannot change the pixels.
static void sjpeg_close(sjpeg *s) {
	jpeg_destroy_decompress(&s->d);
}
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// libjpegAvailable says JPEGs are decoded by decodeLibjpeg.
const libjpegAvailable = true

const (
	// jpegMaxScans is more scans than any encoder writes (libjpeg's
	// progressive default has 10); see sjpeg_progress.
	jpegMaxScans = 256

	// jpegCoefBytes is the most coefficient memory a progressive file
	// needs per pixel: 64 two-byte coefficients per 8×8 block, four
	// full-resolution components. jpegSlack covers the row buffers and
	// the padding of the last MCU row and column.
	jpegCoefBytes = 2 * 4
	jpegSlack     = 64 << 20
)

// decodeLibjpeg decodes a JPEG with the system libjpeg(-turbo). The header
// is read and checked against o.MaxPixels before libjpeg allocates any
// image buffer. When o.MinSide (or o.DCTMinSide) allows, libjpeg decodes
// at 1/8, 1/4 or 1/2 scale (DCT scaling: the cheapest reduction there is, skipping most of
// the inverse DCT), and the remaining integer factor is a box filter, as
// toRGB applies to the other formats. Info keeps the full size.
func decodeLibjpeg(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	s := (*C.sjpeg)(C.calloc(1, C.sizeof_sjpeg))
	var pin runtime.Pinner // libjpeg keeps a pointer to b between calls
	pin.Pin(&b[0])
	defer func() {
		C.sjpeg_close(s)
		C.free(unsafe.Pointer(s))
		pin.Unpin()
	}()

	maxMem := int64(math.MaxInt64)
	if o.MaxPixels < (math.MaxInt64-jpegSlack)/jpegCoefBytes {
		maxMem = jpegCoefBytes*o.MaxPixels + jpegSlack
	}
	if C.sjpeg_open(s, (*C.uchar)(&b[0]), C.ulong(len(b)), C.long(maxMem), jpegMaxScans) != 0 {
		// A header declaring a size libjpeg refuses is still reported
		// as too large when it is.
		if w, h := int(s.d.image_width), int(s.d.image_height); w > 0 && h > 0 {
			if err := checkSize(w, h, o.MaxPixels); err != nil {
				return nil, info, err
			}
			if s.err.msg_code == C.JERR_IMAGE_TOO_BIG {
				return nil, info, fmt.Errorf("%w: %d×%d: %s", ErrTooLarge, w, h, libjpegMessage(s))
			}
		}
		return nil, info, fmt.Errorf("%w: jpeg header: %s", ErrCorrupt, libjpegMessage(s))
	}
	w, h := int(s.d.image_width), int(s.d.image_height)
	if err := checkSize(w, h, o.MaxPixels); err != nil {
		return nil, info, err
	}
	var cmyk bool
	switch s.d.jpeg_color_space {
	case C.JCS_GRAYSCALE, C.JCS_YCbCr, C.JCS_RGB:
	case C.JCS_CMYK, C.JCS_YCCK:
		cmyk = true
	default:
		return nil, info, fmt.Errorf("%w: jpeg: %d colour components of unknown meaning", ErrCorrupt, s.d.num_components)
	}
	minSide := o.MinSide
	if o.DCTMinSide > 0 && minSide > 0 {
		minSide = min(minSide, o.DCTMinSide)
	}
	denom := jpegScale(w, h, minSide)
	if C.sjpeg_start(s, C.int(denom), C.int(boolInt(cmyk))) != 0 {
		return nil, info, fmt.Errorf("%w: jpeg: %s", ErrCorrupt, libjpegMessage(s))
	}
	img, err := readScanlines(s, cmyk, shrinkFactor(int(s.d.output_width), int(s.d.output_height), o.MinSide))
	if err != nil {
		return nil, info, err
	}
	info.Orientation = exifOrientation(FormatJPEG, b)
	img = orient(img, info.Orientation)
	info.Width, info.Height = w, h
	if info.Orientation >= 5 {
		info.Width, info.Height = h, w
	}
	return img, info, nil
}

// jpegScale returns the largest DCT scale denominator (8, 4, 2 or 1) that
// keeps the shorter side of the w×h image at least minSide.
func jpegScale(w, h, minSide int) int {
	if minSide <= 0 {
		return 1
	}
	for _, d := range []int{8, 4, 2} {
		// libjpeg rounds scaled sizes up.
		if min((w+d-1)/d, (h+d-1)/d) >= minSide {
			return d
		}
	}
	return 1
}

// readScanlines reads the started decode into RGB, shrunk by k. RGB rows
// at full size go straight into the result; CMYK rows and rows to shrink
// go through a buffer of a few rows, converted and box-filtered from there.
func readScanlines(s *C.sjpeg, cmyk bool, k int) (*RGB, error) {
	w, h := int(s.d.output_width), int(s.d.output_height)
	ow, oh := w/k, h/k
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, 3*ow*oh)}
	if !cmyk && k == 1 {
		return out, readRows(s, out.Pix, 3*w, h)
	}
	nc := 3
	if cmyk {
		nc = 4
	}
	rows := k
	if k == 1 {
		rows = 16
	}
	buf := make([]uint8, nc*w*rows)
	rgb := make([]uint8, 3*w)
	box := newBox(ow*k, k)
	for y := 0; y < oh*k; y += rows {
		n := min(rows, oh*k-y)
		if err := readRows(s, buf, nc*w, n); err != nil {
			return nil, err
		}
		for i := range n {
			row := buf[i*nc*w : (i+1)*nc*w]
			if cmyk {
				if k == 1 {
					cmykToRGB(out.Pix[3*(y+i)*w:3*(y+i+1)*w], row)
					continue
				}
				cmykToRGB(rgb, row)
				row = rgb
			}
			box.add(row)
		}
		if k > 1 {
			box.emit(out.Pix[3*(y/k)*ow:3*(y/k+1)*ow], k)
		}
	}
	return out, nil
}

// readRows decodes the next n scanlines into dst, stride bytes apart.
func readRows(s *C.sjpeg, dst []uint8, stride, n int) error {
	if n == 0 {
		return nil
	}
	got := C.sjpeg_read(s, (*C.uchar)(&dst[0]), C.long(stride), C.int(n))
	if got < 0 {
		return fmt.Errorf("%w: jpeg: %s", ErrCorrupt, libjpegMessage(s))
	}
	if int(got) != n {
		return fmt.Errorf("%w: jpeg: %d of %d rows", ErrCorrupt, got, n)
	}
	return nil
}

// cmykToRGB converts libjpeg's CMYK output to RGB. libjpeg hands over the
// samples as stored, and 4-component JPEGs are stored inverted (Adobe's
// convention, 255 meaning no ink; YCCK comes out the same way), so this
// is image/jpeg's 255-c, 255-k and color.CMYKToRGB in one: r = c·k/255.
// 4-component files without an Adobe marker, which image/jpeg refuses,
// are taken to follow the same convention, as browsers do.
func cmykToRGB(dst, src []uint8) {
	for x := range len(dst) / 3 {
		s := src[4*x : 4*x+4 : 4*x+4]
		d := dst[3*x : 3*x+3 : 3*x+3]
		k := uint32(s[3])
		d[0] = uint8(uint32(s[0]) * k / 255)
		d[1] = uint8(uint32(s[1]) * k / 255)
		d[2] = uint8(uint32(s[2]) * k / 255)
	}
}

// libjpegMessage returns libjpeg's last error message, lowercased like
// our own unless it starts with an acronym.
func libjpegMessage(s *C.sjpeg) string {
	m := C.GoString(&s.msg[0])
	r, n := utf8.DecodeRuneInString(m)
	if r2, _ := utf8.DecodeRuneInString(m[n:]); unicode.IsLower(r2) {
		m = string(unicode.ToLower(r)) + m[n:]
	}
	return m
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

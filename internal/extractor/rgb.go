package extractor

import (
	"image"
	"image/color"
)

// toRGB converts a decoded image to packed RGB, compositing alpha over
// white, and shrinks it by the integer factor k (k ≥ 1) with a box filter
// on the way. Shrinking keeps whole k×k blocks only: the last w mod k
// columns and h mod k rows (less than one output pixel) are dropped, so
// every output pixel weighs the same area and the picture's geometry is
// the source's to within one source pixel. The common decoder outputs
// take per-row fast paths; the rest go through the colour model one pixel
// at a time.
func toRGB(m image.Image, k int) *RGB {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	conv := rowConverter(m)
	k = min(k, w, h)
	if ycc, ok := m.(*image.YCbCr); ok && k > 1 {
		return shrinkYCbCr(ycc, k)
	}
	if k <= 1 {
		out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
		for y := range h {
			conv(y, out.Pix[3*y*w:3*(y+1)*w])
		}
		return out
	}
	ow, oh := w/k, h/k
	box := newBox(ow*k, k)
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, 3*ow*oh)}
	row := make([]uint8, 3*w)
	for oy := range oh {
		for y := oy * k; y < (oy+1)*k; y++ {
			conv(y, row)
			box.add(row)
		}
		box.emit(out.Pix[3*oy*ow:3*(oy+1)*ow], k)
	}
	return out
}

// boxFilter averages k×k blocks of RGB rows of width w. Partial blocks at
// the right and bottom edges average the pixels they have.
type boxFilter struct {
	w, k, outW int
	acc        []uint32
}

func newBox(w, k int) *boxFilter {
	ow := (w + k - 1) / k
	return &boxFilter{w: w, k: k, outW: ow, acc: make([]uint32, 3*ow)}
}

// add accumulates one row of 3·w bytes.
func (f *boxFilter) add(row []uint8) {
	row = row[:3*f.w]
	acc := f.acc
	x := 0
	for bx := 0; bx < f.outW; bx++ {
		var r, g, b uint32
		end := min(x+f.k, f.w)
		for ; x < end; x++ {
			p := row[3*x : 3*x+3 : 3*x+3]
			r += uint32(p[0])
			g += uint32(p[1])
			b += uint32(p[2])
		}
		a := acc[3*bx : 3*bx+3 : 3*bx+3]
		a[0] += r
		a[1] += g
		a[2] += b
	}
}

// emit writes the averages of the rows accumulated since the last emit
// (n of them) into dst and resets the accumulator.
func (f *boxFilter) emit(dst []uint8, n int) {
	for bx := 0; bx < f.outW; bx++ {
		c := uint32(n * (min((bx+1)*f.k, f.w) - bx*f.k))
		a := f.acc[3*bx : 3*bx+3 : 3*bx+3]
		d := dst[3*bx : 3*bx+3 : 3*bx+3]
		d[0] = uint8((a[0] + c/2) / c)
		d[1] = uint8((a[1] + c/2) / c)
		d[2] = uint8((a[2] + c/2) / c)
		a[0], a[1], a[2] = 0, 0, 0
	}
}

// rowConverter returns a function that writes row y (0-based within the
// bounds) of m as RGB over white into dst (3·width bytes).
func rowConverter(m image.Image) func(y int, dst []uint8) {
	b := m.Bounds()
	w := b.Dx()
	switch src := m.(type) {
	case *image.YCbCr:
		cx := chromaColumns(src)
		return func(y int, dst []uint8) {
			yrow := src.Y[src.YOffset(b.Min.X, b.Min.Y+y):][:w]
			c0 := src.COffset(b.Min.X, b.Min.Y+y)
			cb, cr := src.Cb[c0:], src.Cr[c0:]
			for x, yy := range yrow {
				// color.YCbCrToRGB, written out: a call per pixel costs
				// more than the arithmetic.
				ci := cx[x]
				y1 := int32(yy) * 0x10101
				cb1 := int32(cb[ci]) - 128
				cr1 := int32(cr[ci]) - 128
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0] = clamp16(y1 + 91881*cr1)
				d[1] = clamp16(y1 - 22554*cb1 - 46802*cr1)
				d[2] = clamp16(y1 + 116130*cb1)
			}
		}
	case *image.NYCbCrA:
		cx := chromaColumns(&src.YCbCr)
		return func(y int, dst []uint8) {
			yrow := src.Y[src.YOffset(b.Min.X, b.Min.Y+y):][:w]
			arow := src.A[src.AOffset(b.Min.X, b.Min.Y+y):][:w]
			c0 := src.COffset(b.Min.X, b.Min.Y+y)
			cb, cr := src.Cb[c0:], src.Cr[c0:]
			for x, yy := range yrow {
				ci := cx[x]
				d := dst[3*x : 3*x+3 : 3*x+3]
				ycc(d, yy, cb[ci], cr[ci])
				a := uint32(arow[x])
				d[0], d[1], d[2] = overWhite(d[0], a), overWhite(d[1], a), overWhite(d[2], a)
			}
		}
	case *image.Gray:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, v := range row {
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0], d[1], d[2] = v, v, v
			}
		}
	case *image.Gray16:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
			for x := range w {
				v := row[2*x] // big-endian: the high byte
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0], d[1], d[2] = v, v, v
			}
		}
	case *image.RGBA:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				s := row[4*x : 4*x+4 : 4*x+4]
				d := dst[3*x : 3*x+3 : 3*x+3]
				// Premultiplied: c + (255 - a) is c over white.
				na := 255 - s[3]
				d[0], d[1], d[2] = s[0]+na, s[1]+na, s[2]+na
			}
		}
	case *image.NRGBA:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				s := row[4*x : 4*x+4 : 4*x+4]
				d := dst[3*x : 3*x+3 : 3*x+3]
				if a := uint32(s[3]); a == 255 {
					d[0], d[1], d[2] = s[0], s[1], s[2]
				} else {
					d[0], d[1], d[2] = overWhite(s[0], a), overWhite(s[1], a), overWhite(s[2], a)
				}
			}
		}
	case *image.RGBA64:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := range w {
				s := row[8*x : 8*x+8 : 8*x+8]
				na := 0xffff - be16(s[6:])
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0] = uint8((be16(s[0:]) + na) >> 8)
				d[1] = uint8((be16(s[2:]) + na) >> 8)
				d[2] = uint8((be16(s[4:]) + na) >> 8)
			}
		}
	case *image.NRGBA64:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := range w {
				s := row[8*x : 8*x+8 : 8*x+8]
				a := be16(s[6:])
				d := dst[3*x : 3*x+3 : 3*x+3]
				for c := range 3 {
					v := (be16(s[2*c:])*a + 0xffff*(0xffff-a)) / 0xffff
					d[c] = uint8(v >> 8)
				}
			}
		}
	case *image.CMYK:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				s := row[4*x : 4*x+4 : 4*x+4]
				// As color.CMYKToRGB: (255-c)·(255-k)/255, per channel.
				kw := 255 - uint32(s[3])
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0] = uint8((255 - uint32(s[0])) * kw / 255)
				d[1] = uint8((255 - uint32(s[1])) * kw / 255)
				d[2] = uint8((255 - uint32(s[2])) * kw / 255)
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8 // indices past the palette (At would panic) stay black
		for i, c := range src.Palette {
			if i == len(lut) {
				break
			}
			lut[i] = rgbOverWhite(c)
		}
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, i := range row {
				copy(dst[3*x:3*x+3], lut[i][:])
			}
		}
	}
	return func(y int, dst []uint8) {
		for x := range w {
			c := rgbOverWhite(m.At(b.Min.X+x, b.Min.Y+y))
			copy(dst[3*x:3*x+3], c[:])
		}
	}
}

// chromaColumns maps each column of the bounds to its offset in the
// chroma planes relative to the row's first chroma sample, which lets the
// inner loop skip YCbCr.COffset's per-pixel switch.
func chromaColumns(m *image.YCbCr) []int {
	b := m.Bounds()
	cx := make([]int, b.Dx())
	base := m.COffset(b.Min.X, b.Min.Y)
	for x := range cx {
		cx[x] = m.COffset(b.Min.X+x, b.Min.Y) - base
	}
	return cx
}

// ycc converts one pixel exactly as color.YCbCrToRGB does (JFIF full
// range, 16.16 fixed point), inlined for the hot loop.
func ycc(d []uint8, y, cb, cr uint8) {
	yy := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	d[0] = clamp16(yy + 91881*cr1)
	d[1] = clamp16(yy - 22554*cb1 - 46802*cr1)
	d[2] = clamp16(yy + 116130*cb1)
}

func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31)) // 0 when negative, 255 when above
}

// overWhite composites a non-premultiplied 8-bit channel value with alpha
// a over white, rounded.
func overWhite(c uint8, a uint32) uint8 {
	return uint8((uint32(c)*a + 255*(255-a) + 127) / 255)
}

// rgbOverWhite composites any colour over white (RGBA is premultiplied).
func rgbOverWhite(c color.Color) [3]uint8 {
	if c == nil {
		return [3]uint8{}
	}
	r, g, b, a := c.RGBA()
	na := 0xffff - a
	return [3]uint8{uint8((r + na) >> 8), uint8((g + na) >> 8), uint8((b + na) >> 8)}
}

func be16(b []uint8) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }

// orient returns img turned as EXIF orientation o (1..8) asks, so that it
// displays upright. Output pixel (x, y) shows source pixel number
// base + x·ax + y·ay; the work goes in square tiles so that, whichever way
// the pixels travel, reads and writes both stay within a few cache lines.
func orient(img *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	last, bottom := w-1, (h-1)*w // last column, first pixel of the last row
	var base, ax, ay int
	switch o {
	case 2: // mirrored left to right: (w-1-x, y)
		base, ax, ay = last, -1, w
	case 3: // rotated 180°: (w-1-x, h-1-y)
		base, ax, ay = bottom+last, -1, -w
	case 4: // mirrored top to bottom: (x, h-1-y)
		base, ax, ay = bottom, 1, -w
	case 5: // transposed: (y, x)
		base, ax, ay = 0, w, 1
	case 6: // stored turned anticlockwise, turn clockwise: (y, h-1-x)
		base, ax, ay = bottom, -w, 1
	case 7: // transversed: (w-1-y, h-1-x)
		base, ax, ay = bottom+last, -w, -1
	case 8: // stored turned clockwise, turn anticlockwise: (w-1-y, x)
		base, ax, ay = last, w, -1
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, len(img.Pix))}
	src := img.Pix
	const tile = 64
	for ty := 0; ty < oh; ty += tile {
		for tx := 0; tx < ow; tx += tile {
			xe := min(tx+tile, ow)
			for y := ty; y < min(ty+tile, oh); y++ {
				d := out.Pix[3*(y*ow+tx) : 3*(y*ow+xe)]
				s := base + tx*ax + y*ay
				for i := 0; i < len(d); i += 3 {
					p := src[3*s : 3*s+3 : 3*s+3]
					d[i], d[i+1], d[i+2] = p[0], p[1], p[2]
					s += ax
				}
			}
		}
	}
	return out
}

// shrinkYCbCr box-filters a YCbCr image by k in YCbCr space and converts
// only the averages: a third of the arithmetic per source pixel of
// converting first, as libjpeg's scaled decoding does. Conversion is
// affine apart from clamping, so the two differ only where a block mixes
// colours outside the RGB gamut. Whole blocks only, as toRGB.
func shrinkYCbCr(m *image.YCbCr, k int) *RGB {
	b := m.Bounds()
	ow, oh := b.Dx()/k, b.Dy()/k
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, 3*ow*oh)}
	cx := chromaColumns(m)
	acc := make([]uint32, 3*ow)
	// Per-block chroma sums of one luma row; rows that share a chroma row
	// (both rows of a 4:2:0 pair) reuse them.
	csum := make([]uint32, 2*ow)
	lastC0 := -1
	n := uint32(k * k)
	for oy := range oh {
		for y := oy * k; y < (oy+1)*k; y++ {
			yrow := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):][:ow*k]
			if c0 := m.COffset(b.Min.X, b.Min.Y+y); c0 != lastC0 {
				lastC0 = c0
				cb, cr := m.Cb[c0:], m.Cr[c0:]
				for bx := range ow {
					var scb, scr uint32
					for _, ci := range cx[bx*k : (bx+1)*k] {
						scb += uint32(cb[ci])
						scr += uint32(cr[ci])
					}
					csum[2*bx], csum[2*bx+1] = scb, scr
				}
			}
			for bx := range ow {
				var sy uint32
				for _, v := range yrow[bx*k : (bx+1)*k] {
					sy += uint32(v)
				}
				a := acc[3*bx : 3*bx+3 : 3*bx+3]
				a[0] += sy
				a[1] += csum[2*bx]
				a[2] += csum[2*bx+1]
			}
		}
		row := out.Pix[3*oy*ow : 3*(oy+1)*ow]
		for bx := range ow {
			a := acc[3*bx : 3*bx+3 : 3*bx+3]
			r, g, bb := color.YCbCrToRGB(uint8((a[0]+n/2)/n), uint8((a[1]+n/2)/n), uint8((a[2]+n/2)/n))
			row[3*bx], row[3*bx+1], row[3*bx+2] = r, g, bb
			a[0], a[1], a[2] = 0, 0, 0
		}
	}
	return out
}

// Package imagetest makes hostile image files for tests of decoders and
// of everything that reads photo folders.
package imagetest

import (
	"encoding/binary"
	"hash/crc32"
)

// HugeHeaders returns, by format (jpeg, png, gif, bmp, tiff, webp), a file
// of a few dozen bytes whose header declares an n×n image and that holds
// no pixel data: a decompression bomb's header. n must be under 65536,
// the JPEG limit.
func HugeHeaders(n uint32) map[string][]byte {
	le, be := binary.LittleEndian, binary.BigEndian
	h := map[string][]byte{}

	h["png"] = PNGHeader(n, n)

	g := append([]byte("GIF89a"), le.AppendUint16(le.AppendUint16(nil, uint16(n)), uint16(n))...)
	h["gif"] = append(g, 0, 0, 0)

	b := append([]byte("BM"), le.AppendUint32(nil, 54)...)
	b = append(b, 0, 0, 0, 0)
	b = le.AppendUint32(b, 54)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint32(le.AppendUint32(b, n), n)
	b = le.AppendUint16(le.AppendUint16(b, 1), 24)
	h["bmp"] = append(b, make([]byte, 24)...)

	tf := append([]byte("II*\x00"), le.AppendUint32(nil, 8)...)
	entries := [][3]uint32{{256, 4, n}, {257, 4, n}, {258, 3, 8}, {262, 3, 1}, {273, 4, 0}, {277, 3, 1}, {278, 4, n}, {279, 4, n * n}}
	tf = le.AppendUint16(tf, uint16(len(entries)))
	for _, e := range entries {
		tf = le.AppendUint16(tf, uint16(e[0]))
		tf = le.AppendUint16(tf, uint16(e[1]))
		tf = le.AppendUint32(tf, 1)
		if e[1] == 3 { // SHORT: value in the first two bytes of the field
			tf = le.AppendUint16(le.AppendUint16(tf, uint16(e[2])), 0)
		} else {
			tf = le.AppendUint32(tf, e[2])
		}
	}
	h["tiff"] = le.AppendUint32(tf, 0)

	vp8x := append([]byte("VP8X"), le.AppendUint32(nil, 10)...)
	vp8x = append(vp8x, 0, 0, 0, 0)
	m := uint32(n - 1) // canvas sides minus one, 24 bits each
	vp8x = append(vp8x, byte(m), byte(m>>8), byte(m>>16), byte(m), byte(m>>8), byte(m>>16))
	w := append([]byte("RIFF"), le.AppendUint32(nil, uint32(4+len(vp8x)))...)
	h["webp"] = append(append(w, "WEBP"...), vp8x...)

	j := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8}
	j = be.AppendUint16(be.AppendUint16(j, uint16(n)), uint16(n))
	j = append(j, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	h["jpeg"] = append(j, 0xFF, 0xDA, 0, 2)
	return h
}

// PNGHeader is a PNG signature and an IHDR chunk declaring a w×h 8-bit RGB
// image, with no image data.
func PNGHeader(w, h uint32) []byte {
	be := binary.BigEndian
	ihdr := append([]byte("IHDR"), be.AppendUint32(be.AppendUint32(nil, w), h)...)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	p := append([]byte("\x89PNG\r\n\x1a\n"), be.AppendUint32(nil, 13)...)
	p = append(p, ihdr...)
	return be.AppendUint32(p, crc32.ChecksumIEEE(ihdr))
}

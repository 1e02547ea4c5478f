package extractor

import (
	"bytes"
	"encoding/binary"
	"iter"
)

// EXIF orientation is read with a small parser of our own: it needs one
// SHORT from the first image directory, every offset it follows comes from
// the file, and so every read is bounds-checked against the buffer.
// Anything malformed means "as stored" (1), never an error: a photo with a
// damaged EXIF block is still a photo.

const (
	tagOrientation = 0x0112
	typeShort      = 3
	typeLong       = 4
	maxIFDEntries  = 1024 // a real IFD0 has a few dozen
)

// tiffReader reads a TIFF-structured block: a TIFF file or an EXIF payload.
type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the 4-byte value-or-offset field
}

func newTIFFReader(b []byte) (tiffReader, bool) {
	if len(b) < 8 {
		return tiffReader{}, false
	}
	switch string(b[:4]) {
	case "II*\x00":
		return tiffReader{b: b, bo: binary.LittleEndian}, true
	case "MM\x00*":
		return tiffReader{b: b, bo: binary.BigEndian}, true
	}
	return tiffReader{}, false
}

// ifd0 yields the entries of the first image directory that lie wholly
// inside the buffer.
func (t tiffReader) ifd0() iter.Seq[ifdEntry] {
	return func(yield func(ifdEntry) bool) {
		off := uint64(t.bo.Uint32(t.b[4:8]))
		if off < 8 || off+2 > uint64(len(t.b)) {
			return
		}
		n := min(uint64(t.bo.Uint16(t.b[off:])), maxIFDEntries)
		for i := range n {
			p := off + 2 + 12*i
			if p+12 > uint64(len(t.b)) {
				return
			}
			e := t.b[p : p+12]
			if !yield(ifdEntry{
				tag:   t.bo.Uint16(e[0:2]),
				typ:   t.bo.Uint16(e[2:4]),
				count: t.bo.Uint32(e[4:8]),
				value: e[8:12],
			}) {
				return
			}
		}
	}
}

// uint returns a single SHORT or LONG value stored inline in the entry.
func (t tiffReader) uint(e ifdEntry) (uint32, bool) {
	if e.count != 1 {
		return 0, false
	}
	switch e.typ {
	case typeShort:
		return uint32(t.bo.Uint16(e.value)), true
	case typeLong:
		return t.bo.Uint32(e.value), true
	}
	return 0, false
}

// tiffOrientation returns the Orientation tag of a TIFF-structured block,
// or 1 when it is absent or out of range.
func tiffOrientation(b []byte) int {
	t, ok := newTIFFReader(b)
	if !ok {
		return 1
	}
	for e := range t.ifd0() {
		if e.tag != tagOrientation {
			continue
		}
		if v, ok := t.uint(e); ok && v >= 1 && v <= 8 {
			return int(v)
		}
		return 1
	}
	return 1
}

// exifOrientation returns the EXIF orientation (1..8) stored in data of
// the given format, 1 when there is none.
func exifOrientation(format string, data []byte) int {
	var block []byte
	switch format {
	case FormatJPEG:
		block = jpegEXIF(data)
	case FormatPNG:
		block = pngEXIF(data)
	case FormatWebP:
		block = webpEXIF(data)
	case FormatTIFF:
		block = data
	}
	// JPEG APP1 requires the "Exif\0\0" identifier; some writers put it in
	// PNG and WebP chunks too.
	return tiffOrientation(bytes.TrimPrefix(block, []byte("Exif\x00\x00")))
}

// jpegEXIF returns the payload of the first APP1 Exif segment before the
// start of scan.
func jpegEXIF(b []byte) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			return nil
		}
		m := b[p+1]
		switch {
		case m == 0xFF: // fill byte
			p++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // markers without a length
			p += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 || p+2+n > len(b) {
			return nil
		}
		seg := b[p+4 : p+2+n]
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg
		}
		p += 2 + n
	}
	return nil
}

// pngEXIF returns the payload of the eXIf chunk. The PNG spec puts it
// before IDAT, but writers have placed it after, so all chunks are walked;
// that costs one jump per chunk.
func pngEXIF(b []byte) []byte {
	p := uint64(8)
	for p+8 <= uint64(len(b)) {
		n := uint64(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		end := p + 8 + n
		if end > uint64(len(b)) {
			return nil
		}
		switch typ {
		case "eXIf":
			return b[p+8 : end]
		case "IEND":
			return nil
		}
		p = end + 4 // skip the CRC
	}
	return nil
}

// webpEXIF returns the payload of the EXIF chunk of an extended WebP file.
func webpEXIF(b []byte) []byte {
	p := uint64(12)
	for p+8 <= uint64(len(b)) {
		n := uint64(binary.LittleEndian.Uint32(b[p+4:]))
		end := p + 8 + n
		if end > uint64(len(b)) {
			return nil
		}
		if string(b[p:p+4]) == "EXIF" {
			return b[p+8 : end]
		}
		p = end + end&1 // chunks are padded to an even size
	}
	return nil
}

package extractor

import (
	"bytes"
	"encoding/binary"
	"iter"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EXIF is read with a small parser of our own: it needs one SHORT and two
// strings from the first image directory (the orientation, the camera's
// make and model) and three strings from the Exif sub-directory (the
// capture time), every offset it follows comes from the file, and so every
// read is bounds-checked against the buffer. Anything malformed means "as
// stored" (orientation 1) or "unknown" (capture time 0, empty strings),
// never an error: a photo with a damaged EXIF block is still a photo.
//
// github.com/evanoberholster/imagemeta v0.3.1 was tried on a JPEG with
// EXIF and the HEIC and AVIF heif-enc makes from it: it read the JPEG and
// HEIC, returned no capture time and no error for the AVIF, and panicked
// on 9 of 3,000 AVIF headers with 8 random bytes changed (0 for JPEG and
// HEIC); it would also bring zerolog and msgp. This reader was kept: it
// walks every container the decoders read (JPEG, PNG, WebP, TIFF and the
// TIFF-based raw files; HEIF and AVIF through their Exif item, heifEXIF)
// with bounds on every offset and count, is fuzzed, and needed four more
// tags, not a module.

const (
	tagMake               = 0x010F
	tagModel              = 0x0110
	tagOrientation        = 0x0112
	tagExifIFD            = 0x8769 // pointer to the Exif sub-directory
	tagDateTimeOriginal   = 0x9003 // "YYYY:MM:DD HH:MM:SS", local time as the camera's clock said
	tagOffsetTimeOriginal = 0x9011 // "+HH:MM", the zone of DateTimeOriginal (EXIF 2.31)
	tagSubSecTimeOriginal = 0x9291 // decimal fractions of DateTimeOriginal's second
	typeASCII             = 2
	typeShort             = 3
	typeLong              = 4
	typeIFD               = 13
	maxIFDEntries         = 1024 // a real IFD0 has a few dozen
	maxASCII              = 64   // the longest string read; dates take 20 bytes
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
	return t.ifd(t.bo.Uint32(t.b[4:8]))
}

// ifd yields the entries of the directory at offset off that lie wholly
// inside the buffer.
func (t tiffReader) ifd(at uint32) iter.Seq[ifdEntry] {
	return func(yield func(ifdEntry) bool) {
		off := uint64(at)
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

// ascii returns an ASCII entry's text up to its first NUL, read inline
// when it fits the value field and from its offset otherwise; false when
// it is not ASCII, too long or outside the buffer.
func (t tiffReader) ascii(e ifdEntry) (string, bool) {
	if e.typ != typeASCII || e.count == 0 || e.count > maxASCII {
		return "", false
	}
	var v []byte
	if e.count <= 4 {
		v = e.value[:e.count]
	} else {
		off := uint64(t.bo.Uint32(e.value))
		if off+uint64(e.count) > uint64(len(t.b)) {
			return "", false
		}
		v = t.b[off : off+uint64(e.count)]
	}
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return string(v), true
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
	return tiffOrientation(exifBlock(format, data))
}

// exifBlock returns the TIFF-structured EXIF block of data in the given
// format, or nil.
func exifBlock(format string, data []byte) []byte {
	var block []byte
	switch format {
	case FormatJPEG:
		block = jpegEXIF(data)
	case FormatPNG:
		block = pngEXIF(data)
	case FormatWebP:
		block = webpEXIF(data)
	case FormatTIFF, FormatRAW: // most camera raw files are TIFF inside
		block = data
	case FormatHEIC, FormatAVIF:
		block = heifEXIF(data)
	}
	// JPEG APP1 requires the "Exif\0\0" identifier; some writers put it in
	// PNG and WebP chunks too.
	return bytes.TrimPrefix(block, []byte("Exif\x00\x00"))
}

// exifMeta is what EXIF says about a photo's capture.
type exifMeta struct {
	Taken   int64  // unix nanoseconds, 0 when unknown; see parseEXIFTime
	TakenAt string // RFC 3339; without a zone when the offset is unknown; "" when unknown
	Make    string // camera maker (IFD0 Make), "" when unknown
	Model   string // camera model (IFD0 Model), "" when unknown
}

// takenLayout is how TakenAt writes a capture time whose zone is
// unknown: RFC 3339 without the offset, a wall clock.
const takenLayout = "2006-01-02T15:04:05.999999999"

// exifTaken returns the capture time stored in data of the given format;
// see readEXIF.
func exifTaken(format string, data []byte, loc *time.Location) int64 {
	return readEXIF(exifBlock(format, data), loc).Taken
}

// readEXIF reads the camera's make and model from IFD0 and the capture
// time (EXIF DateTimeOriginal in the Exif sub-directory, with its
// SubSecTimeOriginal and OffsetTimeOriginal when present) from a
// TIFF-structured EXIF block. Without an offset the time is read as a wall
// clock in loc for Taken, as cameras write it, and TakenAt has no zone.
func readEXIF(block []byte, loc *time.Location) exifMeta {
	var m exifMeta
	t, ok := newTIFFReader(block)
	if !ok {
		return m
	}
	var sub uint32
	for e := range t.ifd0() {
		switch e.tag {
		case tagExifIFD:
			if e.count == 1 && (e.typ == typeLong || e.typ == typeIFD) {
				sub = t.bo.Uint32(e.value)
			}
		case tagMake:
			s, _ := t.ascii(e)
			m.Make = cleanEXIF(s)
		case tagModel:
			s, _ := t.ascii(e)
			m.Model = cleanEXIF(s)
		}
	}
	if sub == 0 {
		return m
	}
	var date, offset, frac string
	for e := range t.ifd(sub) {
		switch e.tag {
		case tagDateTimeOriginal:
			date, _ = t.ascii(e)
		case tagOffsetTimeOriginal:
			offset, _ = t.ascii(e)
		case tagSubSecTimeOriginal:
			frac, _ = t.ascii(e)
		}
	}
	when, zoned, ok := parseEXIFTimeZone(date, offset, frac, loc)
	if !ok {
		return m
	}
	m.Taken = when.UnixNano()
	if zoned {
		m.TakenAt = when.Format(time.RFC3339Nano)
	} else {
		m.TakenAt = when.Format(takenLayout)
	}
	return m
}

// cleanEXIF trims a camera string and drops what is not printable text,
// so that a damaged or hostile block cannot put control characters in
// the output.
func cleanEXIF(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || unicode.IsPrint(r) && r != utf8.RuneError {
			return r
		}
		return -1
	}, strings.ToValidUTF8(s, ""))
	return strings.TrimSpace(s)
}

// parseEXIFTime reads an EXIF date ("2019:05:02 10:11:12"; some writers
// use dashes in the date), its zone offset ("+02:00", "-0530" or "Z";
// ignored when malformed) and its fraction of a second ("123": 0.123 s) as
// unix nanoseconds; 0 when the date is blank, zero or out of range.
func parseEXIFTime(date, offset, frac string, loc *time.Location) int64 {
	t, _, ok := parseEXIFTimeZone(date, offset, frac, loc)
	if !ok {
		return 0
	}
	return t.UnixNano()
}

// parseEXIFTimeZone is parseEXIFTime returning the time, whether its zone
// came from offset (else it is loc), and whether there was a valid date.
func parseEXIFTimeZone(date, offset, frac string, loc *time.Location) (time.Time, bool, bool) {
	date = trimEXIF(date)
	if len(date) != len("2006:01:02 15:04:05") {
		return time.Time{}, false, false
	}
	b := []byte(date)
	if b[4] == '-' && b[7] == '-' {
		b[4], b[7] = ':', ':'
	}
	z, zoned := parseOffset(trimEXIF(offset))
	if zoned {
		loc = z
	}
	t, err := time.ParseInLocation("2006:01:02 15:04:05", string(b), loc)
	// UnixNano is defined from 1678 to 2262; no camera predates the range
	// and 0 is kept for "unknown".
	if err != nil || t.Year() < 1800 || t.Year() > 2200 {
		return time.Time{}, false, false
	}
	frac = trimEXIF(frac)
	if n := len(frac); n > 0 && n <= 9 {
		ns := 0
		for _, c := range frac {
			if c < '0' || c > '9' {
				ns = -1
				break
			}
			ns = ns*10 + int(c-'0')
		}
		for range 9 - n {
			ns *= 10
		}
		if ns > 0 {
			t = t.Add(time.Duration(ns))
		}
	}
	return t, zoned, true
}

// trimEXIF drops the spaces and NULs that writers pad EXIF strings with.
func trimEXIF(s string) string {
	return strings.Trim(s, " \x00")
}

// parseOffset reads "+HH:MM", "-HHMM" or "Z" as a fixed zone.
func parseOffset(s string) (*time.Location, bool) {
	if s == "Z" {
		return time.UTC, true
	}
	if len(s) == 6 && s[3] == ':' {
		s = s[:3] + s[4:]
	}
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return nil, false
	}
	n := 0
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return nil, false
		}
		n = n*10 + int(c-'0')
	}
	h, m := n/100, n%100
	if h > 14 || m > 59 {
		return nil, false
	}
	secs := (h*60 + m) * 60
	if s[0] == '-' {
		secs = -secs
	}
	return time.FixedZone(s, secs), true
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

// heifEXIF returns the TIFF-structured block of a HEIF or AVIF file's
// Exif item (ISO/IEC 23008-12 A.2.1: a 32-bit offset to the TIFF header,
// then the block), found through the meta box's iinf and iloc; nil when
// there is none, it is not stored as one extent of the file itself, or
// anything about it lies outside b. libheif and the pure-Go fallback
// decode the same bytes, so both paths get the capture time this way.
func heifEXIF(b []byte) []byte {
	budget := maxBoxes
	meta, ok := child(b, "meta", &budget)
	if !ok || len(meta) < 4 {
		return nil
	}
	meta = meta[4:] // version and flags
	id, ok := heifItemOfType(meta, "Exif", &budget)
	if !ok {
		return nil
	}
	iloc, ok := child(meta, "iloc", &budget)
	if !ok {
		return nil
	}
	off, n, ok := ilocExtent(iloc, id)
	if !ok || off > uint64(len(b)) || n > uint64(len(b))-off || n < 4 {
		return nil
	}
	item := b[off : off+n]
	skip := uint64(binary.BigEndian.Uint32(item))
	if skip > uint64(len(item))-4 {
		return nil
	}
	return item[4+skip:]
}

// ilocExtent returns the file offset and length of item id from an iloc
// box body (version 0 to 2), when the item is one extent stored in the
// file itself (construction method 0, data reference 0).
func ilocExtent(iloc []byte, id uint32) (offset, length uint64, ok bool) {
	r := bmffReader{b: iloc, ok: true}
	version := r.n(1)
	r.n(3) // flags
	sizes := r.n(2)
	offSize, lenSize, baseSize, idxSize := int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15), int(sizes&15)
	if version == 0 {
		idxSize = 0
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return 0, 0, false
		}
	}
	count := r.n(2)
	if version >= 2 {
		count = r.n(4)
	}
	for i := uint64(0); i < count && r.ok; i++ {
		item := r.n(2)
		if version >= 2 {
			item = r.n(4)
		}
		method := uint64(0)
		if version >= 1 {
			method = r.n(2) & 15
		}
		dataRef := r.n(2)
		base := r.n(baseSize)
		extents := r.n(2)
		var off, n uint64
		if per := uint64(idxSize + offSize + lenSize); per > 0 {
			if extents > uint64(len(r.b)-r.at)/per {
				return 0, 0, false
			}
			for range extents {
				r.n(idxSize)
				off, n = r.n(offSize), r.n(lenSize)
			}
		}
		if !r.ok {
			return 0, 0, false
		}
		if uint32(item) == id {
			if method != 0 || dataRef != 0 || extents != 1 || base+off < base {
				return 0, 0, false
			}
			return base + off, n, true
		}
	}
	return 0, 0, false
}

// bmffReader reads big-endian fields of 0 to 8 bytes from b at at; it
// starts with ok true, and after the first read past the end every read
// gives 0 and ok is false.
type bmffReader struct {
	b  []byte
	ok bool
	at int
}

func (r *bmffReader) n(size int) uint64 {
	if !r.ok || size > len(r.b)-r.at {
		r.ok = false
		return 0
	}
	var v uint64
	for _, c := range r.b[r.at : r.at+size] {
		v = v<<8 | uint64(c)
	}
	r.at += size
	return v
}

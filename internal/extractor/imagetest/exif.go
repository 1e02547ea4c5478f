package imagetest

import (
	"encoding/binary"
)

// EXIFTime is what EXIF says about when a photo was taken, and with
// which camera; empty fields are left out of the block.
type EXIFTime struct {
	Original string // DateTimeOriginal, "2019:05:02 10:11:12"
	Offset   string // OffsetTimeOriginal, "+02:00"
	SubSec   string // SubSecTimeOriginal, "250"
	Make     string // IFD0 Make, "Canon"
	Model    string // IFD0 Model, "Canon EOS 5D"
}

// EXIFBlock returns a TIFF-structured EXIF block in byte order bo, laid
// out as cameras write it: IFD0 holds the Make and Model when given, an
// Orientation and a pointer to the Exif sub-directory, which holds the
// capture time's strings; strings longer than 4 bytes follow the
// directories (the sub-directory's first). Without Make and Model, IFD0
// is at 8 with 2 entries and the sub-directory at 38.
func EXIFBlock(bo binary.AppendByteOrder, orientation uint16, when EXIFTime) []byte {
	type str struct {
		tag uint16
		s   string
	}
	present := func(all []str) []str {
		var out []str
		for _, s := range all {
			if s.s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	subStrs := present([]str{{0x9003, when.Original}, {0x9011, when.Offset}, {0x9291, when.SubSec}})
	ifd0Strs := present([]str{{0x010F, when.Make}, {0x0110, when.Model}})
	var b []byte
	if bo.String() == binary.LittleEndian.String() {
		b = []byte("II*\x00")
	} else {
		b = []byte("MM\x00*")
	}
	b = bo.AppendUint32(b, 8)
	n0 := uint32(2 + len(ifd0Strs))
	sub := 8 + 2 + n0*12 + 4
	data := sub + 2 + uint32(len(subStrs))*12 + 4
	var tail []byte
	// The sub-directory's strings come first in the tail, so that its
	// layout does not depend on Make and Model.
	for _, s := range subStrs {
		if len(s.s)+1 > 4 {
			tail = append(tail, append([]byte(s.s), 0)...)
		}
	}
	strEntry := func(b []byte, s str, off uint32) []byte {
		v := append([]byte(s.s), 0)
		b = bo.AppendUint16(b, s.tag)
		b = bo.AppendUint16(b, 2) // ASCII
		b = bo.AppendUint32(b, uint32(len(v)))
		if len(v) <= 4 {
			return append(b, append(v, make([]byte, 4-len(v))...)...)
		}
		return bo.AppendUint32(b, off)
	}
	// IFD0, its tags in ascending order, then the next-IFD offset.
	b = bo.AppendUint16(b, uint16(n0))
	for _, s := range ifd0Strs {
		b = strEntry(b, s, data+uint32(len(tail)))
		if len(s.s)+1 > 4 {
			tail = append(tail, append([]byte(s.s), 0)...)
		}
	}
	b = bo.AppendUint16(b, 0x0112) // Orientation SHORT 1, inline
	b = bo.AppendUint16(b, 3)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint16(b, orientation)
	b = bo.AppendUint16(b, 0)
	b = bo.AppendUint16(b, 0x8769) // ExifIFD LONG 1
	b = bo.AppendUint16(b, 4)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint32(b, sub)
	b = bo.AppendUint32(b, 0)
	// The Exif sub-directory.
	b = bo.AppendUint16(b, uint16(len(subStrs)))
	at := data
	for _, s := range subStrs {
		b = strEntry(b, s, at)
		if len(s.s)+1 > 4 {
			at += uint32(len(s.s) + 1)
		}
	}
	b = bo.AppendUint32(b, 0)
	return append(b, tail...)
}

// InsertAPP1 returns jpg with an APP1 Exif segment holding block right
// after its start-of-image marker, as cameras place it.
func InsertAPP1(jpg, block []byte) []byte {
	seg := append([]byte("Exif\x00\x00"), block...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// APP1 returns the first APP1 Exif segment of jpg, marker and length
// included, or nil: what a tool that keeps metadata copies into the JPEG
// it writes.
func APP1(jpg []byte) []byte {
	if len(jpg) < 4 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		return nil
	}
	for p := 2; p+4 <= len(jpg) && jpg[p] == 0xFF; {
		m := jpg[p+1]
		if m == 0xDA || m == 0xD9 {
			return nil
		}
		n := int(binary.BigEndian.Uint16(jpg[p+2:]))
		if n < 2 || p+2+n > len(jpg) {
			return nil
		}
		if m == 0xE1 && n >= 8 && string(jpg[p+4:p+10]) == "Exif\x00\x00" {
			return jpg[p : p+2+n]
		}
		p += 2 + n
	}
	return nil
}

// SpliceAPP1 returns jpg with the segment seg (from APP1) inserted right
// after its start-of-image marker.
func SpliceAPP1(jpg, seg []byte) []byte {
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, jpg[2:]...)
}

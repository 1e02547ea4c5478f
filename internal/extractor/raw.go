package extractor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"path/filepath"
	"strings"
)

// Camera raw files are indexed by the largest JPEG preview they carry:
// every camera writes one (it is what the camera's screen shows), at up
// to full resolution, and it is what the photographer saw, rendered with
// the camera's colours. Decoding the sensor data itself would need a raw
// developer per maker. The containers are read with the bounded IFD
// reader of exif.go; CR3 (ISO-BMFF) and RAF have their own.

const (
	tagNewSubfileType = 0x00FE
	tagStripOffsets   = 0x0111
	tagStripCounts    = 0x0117
	tagSubIFDs        = 0x014A
	tagJPEGOffset     = 0x0201 // JPEGInterchangeFormat
	tagJPEGLength     = 0x0202 // JPEGInterchangeFormatLength
	tagRW2JPEG        = 0x002E // Panasonic JpgFromRaw: the JPEG is the value
	maxRawIFDs        = 64     // directories visited; a NEF has about ten
	maxSubIFDs        = 16     // SubIFD pointers followed from one directory
)

// rawExts are the extensions of camera raw files whose container is a
// TIFF, lower case with the dot.
var rawExts = map[string]bool{
	".dng": true, ".cr2": true, ".nef": true, ".nrw": true, ".arw": true, ".srf": true, ".sr2": true,
	".pef": true, ".srw": true, ".rwl": true, ".iiq": true, ".3fr": true, ".erf": true, ".kdc": true,
	".dcr": true, ".mos": true, ".orf": true, ".rw2": true,
}

// RawExtension reports whether name ends in the extension of a camera raw
// format whose container is a TIFF (.dng, .cr2, .nef, .arw, .pef, ...),
// case aside.
func RawExtension(name string) bool {
	return rawExts[strings.ToLower(filepath.Ext(name))]
}

// rawPreview returns the largest JPEG embedded in a camera raw file and
// the orientation stored in its first directory (1 when none); the error
// says why there is none usable.
func rawPreview(b []byte) (jpg []byte, orientation int, err error) {
	var cands [][]byte
	orientation = 1
	switch {
	case bytes.HasPrefix(b, []byte("FUJIFILMCCD-RAW")):
		cands = rafPreviews(b)
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		cands = cr3Previews(b)
	default:
		t, ok := rawTIFFReader(b)
		if !ok {
			return nil, 1, fmt.Errorf("%w: no TIFF header", ErrNoPreview)
		}
		cands = tiffPreviews(t)
		orientation = t.orientation()
	}
	best, bestPx := []byte(nil), 0
	for _, c := range cands {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(c))
		if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
			continue
		}
		if px := cfg.Width * cfg.Height; px > bestPx {
			best, bestPx = c, px
		}
	}
	switch {
	case best != nil:
		return best, orientation, nil
	case len(cands) > 0:
		return nil, orientation, fmt.Errorf("%w: %d embedded images, none a readable JPEG", ErrNoPreview, len(cands))
	}
	return nil, orientation, fmt.Errorf("%w: no embedded JPEG", ErrNoPreview)
}

// rawTIFFReader opens the TIFF structure of a raw file: a TIFF header,
// or the variants with another magic number that Olympus (ORF: "IIRO",
// "IIRS", "MMOR") and Panasonic (RW2: "IIU\0") write.
func rawTIFFReader(b []byte) (tiffReader, bool) {
	if t, ok := newTIFFReader(b); ok {
		return t, true
	}
	if len(b) < 8 {
		return tiffReader{}, false
	}
	switch string(b[:4]) {
	case "IIRO", "IIRS", "IIU\x00":
		return tiffReader{b: b, bo: binary.LittleEndian}, true
	case "MMOR":
		return tiffReader{b: b, bo: binary.BigEndian}, true
	}
	return tiffReader{}, false
}

// orientation returns IFD0's Orientation, 1 when absent or out of range.
func (t tiffReader) orientation() int {
	for e := range t.ifd0() {
		if e.tag == tagOrientation {
			if v, ok := t.uint(e); ok && v >= 1 && v <= 8 {
				return int(v)
			}
		}
	}
	return 1
}

// tiffPreviews returns the JPEGs that the directories of a TIFF-based raw
// file point at: IFD0 and the IFDs chained after it, and their SubIFDs,
// each visited once. A directory's JPEG is its JPEGInterchangeFormat
// block, its single strip when that holds a JPEG (DNG, CR2), or RW2's
// JpgFromRaw.
func tiffPreviews(t tiffReader) [][]byte {
	var out [][]byte
	seen := map[uint32]bool{}
	queue := []uint32{t.bo.Uint32(t.b[4:8])}
	for len(queue) > 0 && len(seen) < maxRawIFDs {
		off := queue[0]
		queue = queue[1:]
		if off < 8 || seen[off] {
			continue
		}
		seen[off] = true
		var jpgOff, jpgLen, stripOff, stripLen uint32
		var strips int
		n := 0
		for e := range t.ifd(off) {
			n++
			switch e.tag {
			case tagJPEGOffset:
				jpgOff, _ = t.uint(e)
			case tagJPEGLength:
				jpgLen, _ = t.uint(e)
			case tagStripOffsets:
				stripOff, _ = t.uint(e)
				strips = int(e.count)
			case tagStripCounts:
				stripLen, _ = t.uint(e)
			case tagRW2JPEG:
				if c := t.block(t.bo.Uint32(e.value), e.count); c != nil {
					out = append(out, c)
				}
			case tagSubIFDs:
				queue = append(queue, t.offsets(e, maxSubIFDs)...)
			}
		}
		if c := t.block(jpgOff, jpgLen); c != nil {
			out = append(out, c)
		}
		if strips == 1 {
			if c := t.block(stripOff, stripLen); c != nil {
				out = append(out, c)
			}
		}
		// The next directory's offset follows the entries.
		if p := uint64(off) + 2 + 12*uint64(n); n > 0 && p+4 <= uint64(len(t.b)) {
			queue = append(queue, t.bo.Uint32(t.b[p:]))
		}
	}
	return out
}

// block returns the n bytes at off when they lie inside the file and
// start like a JPEG, nil otherwise.
func (t tiffReader) block(off, n uint32) []byte {
	end := uint64(off) + uint64(n)
	if n < 4 || end > uint64(len(t.b)) || !bytes.HasPrefix(t.b[off:], []byte("\xff\xd8\xff")) {
		return nil
	}
	return t.b[off:end]
}

// offsets returns up to max LONG (or IFD) values of an entry: inline for
// one, from the offset it holds for more.
func (t tiffReader) offsets(e ifdEntry, max int) []uint32 {
	if e.typ != typeLong && e.typ != typeIFD {
		return nil
	}
	if e.count == 1 {
		return []uint32{t.bo.Uint32(e.value)}
	}
	p := uint64(t.bo.Uint32(e.value))
	var out []uint32
	for i := uint64(0); i < uint64(e.count) && len(out) < max; i++ {
		if p+4*i+4 > uint64(len(t.b)) {
			break
		}
		out = append(out, t.bo.Uint32(t.b[p+4*i:]))
	}
	return out
}

// rafPreviews returns the JPEG a Fujifilm RAF header points at: its
// offset and length are big-endian words at bytes 84 and 88.
func rafPreviews(b []byte) [][]byte {
	if len(b) < 92 {
		return nil
	}
	t := tiffReader{b: b, bo: binary.BigEndian}
	if c := t.block(binary.BigEndian.Uint32(b[84:]), binary.BigEndian.Uint32(b[88:])); c != nil {
		return [][]byte{c}
	}
	return nil
}

// cr3Previews returns the JPEGs of a Canon CR3: the THMB box (160×120)
// inside the uuid box in moov, and the PRVW box (1620×1080) inside a
// top-level uuid box. Each holds a small header and then the JPEG, which
// runs to the end of the box (a JPEG decoder stops at its end marker).
func cr3Previews(b []byte) [][]byte {
	var out [][]byte
	budget := maxBoxes
	var visit func(b []byte, depth int)
	visit = func(b []byte, depth int) {
		boxes(b, &budget, func(x box) bool {
			switch x.typ {
			case "PRVW", "THMB":
				if i := bytes.Index(x.body, []byte("\xff\xd8\xff")); i >= 0 && i < 64 {
					out = append(out, x.body[i:])
				}
			case "moov":
				if depth < 3 {
					visit(x.body, depth+1)
				}
			case "uuid":
				// A 16-byte UUID, then boxes; the preview's uuid box has
				// 8 more bytes before them.
				if depth < 3 && len(x.body) > 16 {
					for _, skip := range []int{16, 24} {
						if len(x.body) > skip {
							visit(x.body[skip:], depth+1)
						}
					}
				}
			}
			return true
		})
	}
	visit(b, 0)
	return out
}

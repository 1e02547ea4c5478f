package extractor

import (
	"bytes"
	"encoding/binary"
)

// Format names returned by Sniff and Info.Format. The first nine are
// decoded by this package (camera raw files by their JPEG preview); the
// rest are recognised only to give a clear ErrUnsupported.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatGIF  = "gif"
	FormatBMP  = "bmp"
	FormatTIFF = "tiff"
	FormatWebP = "webp"

	FormatHEIC = "heic"
	FormatAVIF = "avif"
	FormatRAW  = "raw" // camera raw: CR2, CR3, NEF, ARW, DNG, ORF, RW2, RAF, ...

	FormatJXL = "jxl"
	FormatJP2 = "jpeg2000"
	FormatSVG = "svg"
	FormatPSD = "psd"
	FormatICO = "ico"
	FormatPDF = "pdf"
)

// SniffLen is how many leading bytes Sniff can use. Fewer still name every
// format (64 are enough), but may miss a camera raw file dressed as TIFF or
// an SVG after a long XML prolog.
const SniffLen = 512

// Sniff names the format of content that starts with head, judged from
// magic bytes only, never a file name: "jpeg", "png", "gif", "bmp",
// "tiff", "webp", one of the unsupported formats above, or "" when
// nothing matches. A TIFF container whose first directory looks like a
// camera raw file (a DNGVersion tag, or a reduced-resolution first image
// with sub-images) is reported as "raw".
func Sniff(head []byte) string {
	has := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return FormatJPEG
	case has(0, "\x89PNG\r\n\x1a\n"):
		return FormatPNG
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return FormatGIF
	case has(0, "RIFF") && has(8, "WEBP"):
		return FormatWebP
	case has(0, "BM") && bmpHeaderLooksValid(head):
		return FormatBMP
	case has(0, "IIRO"), has(0, "IIRS"), // Olympus ORF
		has(0, "IIU\x00"),                     // Panasonic RW2
		has(0, "FUJIFILMCCD-RAW"),             // Fujifilm RAF
		has(0, "II*\x00") && has(8, "CR\x02"): // Canon CR2
		return FormatRAW
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		if tiffLooksRaw(head) {
			return FormatRAW
		}
		return FormatTIFF
	case has(0, "8BPS"):
		return FormatPSD
	case has(0, "%PDF-"):
		return FormatPDF
	case has(0, "\xff\x0a"), has(0, "\x00\x00\x00\x0cJXL \r\n\x87\n"):
		return FormatJXL
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		return FormatJP2
	case has(0, "\x00\x00\x01\x00") && len(head) >= 6 && head[4]|head[5] != 0:
		return FormatICO
	}
	if f := sniffISOBMFF(head); f != "" {
		return f
	}
	if looksSVG(head) {
		return FormatSVG
	}
	return ""
}

// bmpHeaderLooksValid rejects text that merely starts with "BM" by checking
// the DIB header size against the sizes BMP writers use.
func bmpHeaderLooksValid(head []byte) bool {
	if len(head) < 18 {
		return false
	}
	switch binary.LittleEndian.Uint32(head[14:18]) {
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// sniffISOBMFF recognises HEIF/HEIC, AVIF and Canon CR3 by the ftyp box's
// major and compatible brands. A file branded only mif1 or msf1 (image or
// sequence, codec unsaid) is AVIF when its primary item is AV1 and HEIC
// otherwise, libheif's own default.
func sniffISOBMFF(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(head[:4]))
	if size < 16 || size > len(head) {
		size = min(len(head), 64)
	}
	brands := []string{string(head[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(head[i:i+4]))
	}
	found := ""
	for _, b := range brands {
		switch b {
		case "avif", "avis":
			return FormatAVIF
		case "crx ":
			return FormatRAW
		case "heic", "heix", "hevc", "hevx", "heim", "heis":
			found = FormatHEIC
		case "mif1", "msf1":
			if found == "" {
				found = "generic"
			}
		}
	}
	if found == "generic" {
		// Only the structural brands: HEIF says no more about the codec,
		// the primary item's type does when the meta box fits the head.
		found = FormatHEIC
		if h, err := heifParse(head); err == nil && h.item == "av01" {
			found = FormatAVIF
		}
	}
	return found
}

// looksSVG accepts markup that contains an <svg element within the head,
// possibly after an XML declaration, comments or a doctype.
func looksSVG(head []byte) bool {
	h := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	if !bytes.HasPrefix(h, []byte("<")) {
		return false
	}
	return bytes.Contains(h[:min(len(h), SniffLen)], []byte("<svg"))
}

// tiffLooksRaw reports whether a TIFF header's first directory looks like a
// camera raw container: a DNGVersion tag, or SubIFDs (where NEF, ARW and
// PEF keep the sensor data) in a first image that is reduced-resolution
// (NewSubfileType bit 0) or names a camera maker (Make).
func tiffLooksRaw(b []byte) bool {
	t, ok := newTIFFReader(b)
	if !ok {
		return false
	}
	reduced, subIFDs, maker := false, false, false
	for e := range t.ifd0() {
		switch e.tag {
		case 0xC612: // DNGVersion
			return true
		case 0x00FE: // NewSubfileType
			if v, ok := t.uint(e); ok && v&1 == 1 {
				reduced = true
			}
		case 0x014A: // SubIFDs
			subIFDs = true
		case 0x010F: // Make
			maker = true
		}
	}
	return subIFDs && (reduced || maker)
}

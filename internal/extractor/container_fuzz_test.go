package extractor

import (
	"bytes"
	"testing"
)

// FuzzHEIFParse feeds arbitrary bytes to the ISO-BMFF reader that sniffs
// HEIF/AVIF brands and finds the primary image's size: never a panic,
// and a size it reports is what checkSize then judges (positive, or an
// error).
func FuzzHEIFParse(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"))
	f.Add([]byte("\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1\x00\x00\x00\x01meta\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"))
	f.Add(cr3Like([]byte("\xff\xd8\xff\xe0"), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		Sniff(data)
		h, err := heifParse(data)
		if err == nil && (h.width < 0 || h.height < 0 || len(h.orient) > maxProperties) {
			t.Fatalf("%+v", h)
		}
		for _, o := range h.orient {
			if o < 2 || o > 8 {
				t.Fatalf("orientation %d", o)
			}
		}
	})
}

// FuzzRawPreview feeds arbitrary bytes to the raw containers' readers
// (TIFF-based, CR3, RAF): never a panic, and a preview is a JPEG lying
// inside the input.
func FuzzRawPreview(f *testing.F) {
	jpg := []byte("\xff\xd8\xff\xdb\x00\x43\x00")
	f.Add(dngLike(jpg, jpg, 6))
	f.Add(cr3Like(jpg, jpg))
	f.Add(append([]byte("FUJIFILMCCD-RAW 0201"), make([]byte, 100)...))
	f.Add(buildTIFF("IIU\x00", "", [][]tiffEntry{{{tagRW2JPEG, 7, 7, blob(0)}}}, []int{-1}, [][]byte{jpg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, o, err := rawPreview(data)
		if o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		if err != nil {
			return
		}
		if !bytes.HasPrefix(p, []byte("\xff\xd8\xff")) || !bytes.Contains(data, p) {
			t.Fatalf("preview of %d bytes is not a JPEG from the input", len(p))
		}
	})
}

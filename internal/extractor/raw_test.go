package extractor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tiffEntry is one directory entry for buildTIFF. A value of blob(i) or
// dir(i) is replaced by the offset of blob i or directory i.
type tiffEntry struct {
	tag, typ uint16
	count    uint32
	value    uint32
}

func blob(i int) uint32 { return 0xFFFF0000 | uint32(i) }
func dir(i int) uint32  { return 0xFFFE0000 | uint32(i) }

// buildTIFF lays out a little-endian TIFF-structured file with the given
// magic ("II*\x00", "IIRO", "IIU\x00") and the first directory's offset,
// then extra (CR2's "CR\x02\x00..."), the directories one after another,
// directory i chained to next[i] (-1 for none), then the blobs.
func buildTIFF(magic, extra string, ifds [][]tiffEntry, next []int, blobs [][]byte) []byte {
	le := binary.LittleEndian
	offs := make([]uint32, len(ifds))
	p := uint32(8 + len(extra))
	for i, d := range ifds {
		offs[i] = p
		p += 2 + 12*uint32(len(d)) + 4
	}
	boffs := make([]uint32, len(blobs))
	for i, b := range blobs {
		boffs[i] = p
		p += uint32(len(b))
	}
	resolve := func(v uint32) uint32 {
		switch v & 0xFFFF0000 {
		case 0xFFFF0000:
			return boffs[v&0xFFFF]
		case 0xFFFE0000:
			return offs[v&0xFFFF]
		}
		return v
	}
	out := append(append([]byte(magic), le.AppendUint32(nil, offs[0])...), extra...)
	for i, d := range ifds {
		out = le.AppendUint16(out, uint16(len(d)))
		for _, e := range d {
			out = le.AppendUint16(out, e.tag)
			out = le.AppendUint16(out, e.typ)
			out = le.AppendUint32(out, e.count)
			v := resolve(e.value)
			if e.typ == typeShort {
				out = le.AppendUint16(out, uint16(v))
				out = le.AppendUint16(out, 0)
			} else {
				out = le.AppendUint32(out, v)
			}
		}
		n := uint32(0)
		if next[i] >= 0 {
			n = offs[next[i]]
		}
		out = le.AppendUint32(out, n)
	}
	for _, b := range blobs {
		out = append(out, b...)
	}
	return out
}

// dngLike makes a DNG-like file: IFD0 is the preview (reduced resolution,
// DNGVersion, the given orientation, its JPEG as the single strip), IFD1
// a small JPEG thumbnail, and a SubIFD the "sensor data" (16 zero bytes).
// A nil preview or thumbnail leaves that image out.
func dngLike(preview, thumb []byte, orientation uint16) []byte {
	ifd0 := []tiffEntry{
		{tagNewSubfileType, typeLong, 1, 1},
		{tagOrientation, typeShort, 1, uint32(orientation)},
		{tagSubIFDs, typeLong, 1, dir(2)},
		{0xC612, 1, 4, 0x00000401}, // DNGVersion 1.4.0.0
	}
	blobs := [][]byte{make([]byte, 16)}
	if preview != nil {
		blobs = append(blobs, preview)
		ifd0 = append(ifd0,
			tiffEntry{tagStripOffsets, typeLong, 1, blob(len(blobs) - 1)},
			tiffEntry{tagStripCounts, typeLong, 1, uint32(len(preview))})
	}
	var ifd1 []tiffEntry
	if thumb != nil {
		blobs = append(blobs, thumb)
		ifd1 = []tiffEntry{
			{tagJPEGOffset, typeLong, 1, blob(len(blobs) - 1)},
			{tagJPEGLength, typeLong, 1, uint32(len(thumb))},
		}
	}
	sub := []tiffEntry{
		{tagNewSubfileType, typeLong, 1, 0},
		{tagStripOffsets, typeLong, 1, blob(0)},
		{tagStripCounts, typeLong, 1, 16},
	}
	return buildTIFF("II*\x00", "", [][]tiffEntry{ifd0, ifd1, sub}, []int{1, -1, -1}, blobs)
}

// rawFixtures returns the sample photo cat.jpg (the preview every raw
// file below carries) and a 40×30 JPEG to serve as their thumbnail.
func rawFixtures(t *testing.T) (preview, thumb []byte) {
	t.Helper()
	preview, err := os.ReadFile(filepath.Join(photosDir, "cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return preview, jpegOf(t, image.NewGray(image.Rect(0, 0, 40, 30)))
}

// TestDecode_RawPreview decodes raw files of each container through
// their largest preview: the same pixels as the preview decoded on its
// own, never the thumbnail, format "raw".
func TestDecode_RawPreview(t *testing.T) {
	preview, thumb := rawFixtures(t)
	want, winfo, err := DecodeBytes(preview, nil)
	if err != nil {
		t.Fatal(err)
	}
	raf := append([]byte("FUJIFILMCCD-RAW 0201FF383501"), make([]byte, 100-28)...)
	raf = binary.BigEndian.AppendUint32(raf[:84], 100)
	raf = binary.BigEndian.AppendUint32(raf, uint32(len(preview)))
	raf = append(append(raf, make([]byte, 100-len(raf))...), preview...)
	tests := map[string][]byte{
		"dng": dngLike(preview, thumb, 1),
		// The thumbnail in IFD0, the preview in a SubIFD.
		"nef": buildTIFF("II*\x00", "", [][]tiffEntry{
			{{tagNewSubfileType, typeLong, 1, 1}, {tagSubIFDs, typeLong, 1, dir(1)},
				{tagJPEGOffset, typeLong, 1, blob(1)}, {tagJPEGLength, typeLong, 1, uint32(len(thumb))}},
			{{tagJPEGOffset, typeLong, 1, blob(0)}, {tagJPEGLength, typeLong, 1, uint32(len(preview))}},
		}, []int{-1, -1}, [][]byte{preview, thumb}),
		"cr2": buildTIFF("II*\x00", "CR\x02\x00\x00\x00\x00\x00", [][]tiffEntry{
			{{tagStripOffsets, typeLong, 1, blob(1)}, {tagStripCounts, typeLong, 1, uint32(len(preview))}},
			{{tagJPEGOffset, typeLong, 1, blob(0)}, {tagJPEGLength, typeLong, 1, uint32(len(thumb))}},
		}, []int{1, -1}, [][]byte{thumb, preview}),
		"orf": buildTIFF("IIRO", "", [][]tiffEntry{
			{{tagJPEGOffset, typeLong, 1, blob(0)}, {tagJPEGLength, typeLong, 1, uint32(len(preview))}},
		}, []int{-1}, [][]byte{preview}),
		"rw2": buildTIFF("IIU\x00", "", [][]tiffEntry{
			{{tagRW2JPEG, 7, uint32(len(preview)), blob(0)}},
		}, []int{-1}, [][]byte{preview}),
		"raf": raf,
		"cr3": cr3Like(preview, thumb),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Sniff(b); got != FormatRAW {
				t.Fatalf("sniffs as %q, want raw", got)
			}
			img, info, err := DecodeBytes(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != FormatRAW || info.Width != winfo.Width || info.Height != winfo.Height {
				t.Fatalf("format %q %d×%d, want raw %d×%d (the preview's)", info.Format, info.Width, info.Height, winfo.Width, winfo.Height)
			}
			if img.W != want.W || img.H != want.H || !bytes.Equal(img.Pix, want.Pix) {
				t.Fatalf("decoded %d×%d, not the preview's pixels (%d×%d)", img.W, img.H, want.W, want.H)
			}
		})
	}
}

// cr3Like makes a CR3-like file: ftyp crx, moov with Canon's uuid box
// holding THMB, and a top-level uuid box holding PRVW.
func cr3Like(preview, thumb []byte) []byte {
	bx := func(typ string, parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(8+len(body))), append([]byte(typ), body...)...)
	}
	uuid := bytes.Repeat([]byte{0x85}, 16)
	hdr := make([]byte, 16) // THMB/PRVW: version, sizes, JPEG length
	return bytes.Join([][]byte{
		bx("ftyp", []byte("crx \x00\x00\x00\x01crx isom")),
		bx("moov", bx("uuid", uuid, bx("THMB", hdr, thumb))),
		bx("uuid", bytes.Repeat([]byte{0xea}, 16), make([]byte, 8), bx("PRVW", hdr, preview)),
		bx("mdat", make([]byte, 64)),
	}, nil)
}

// TestDecode_RawOrientation: the raw file's orientation turns a preview
// that has none of its own.
func TestDecode_RawOrientation(t *testing.T) {
	preview, _ := rawFixtures(t)
	want, winfo, err := DecodeBytes(preview, nil)
	if err != nil {
		t.Fatal(err)
	}
	img, info, err := DecodeBytes(dngLike(preview, nil, 6), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Orientation != 6 || info.Width != winfo.Height || !bytes.Equal(img.Pix, orient(want, 6).Pix) {
		t.Fatalf("orientation %d, %d×%d: not the preview turned as orientation 6", info.Orientation, info.Width, info.Height)
	}
}

// TestDecode_RawWithoutPreview: raw files with no preview, or one that is
// not a JPEG, are refused with ErrNoPreview and the reason.
func TestDecode_RawWithoutPreview(t *testing.T) {
	preview, _ := rawFixtures(t)
	broken := append([]byte("\xff\xd8\xff\xe0"), make([]byte, 60)...)
	tests := []struct {
		name, head, msg string
	}{
		{"dng, sensor data only", string(dngLike(nil, nil, 1)), "no embedded JPEG"},
		{"dng, broken preview", string(dngLike(broken, nil, 1)), "1 embedded images, none a readable JPEG"},
		{"dng, preview past the end", string(dngLike(preview, nil, 1)[:600]), "no embedded JPEG"},
		{"cr3 header", "\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "no embedded JPEG"},
		{"cr2 header", "II*\x00\x10\x00\x00\x00CR\x02\x00", "no embedded JPEG"},
		{"rw2 header", "IIU\x00\x18\x00\x00\x00", "no embedded JPEG"},
		{"raf header", "FUJIFILMCCD-RAW 0201", "no embedded JPEG"},
	}
	for _, tt := range tests {
		_, info, err := DecodeBytes([]byte(tt.head), nil)
		if !errors.Is(err, ErrNoPreview) || !strings.HasSuffix(err.Error(), tt.msg) || info.Format != FormatRAW {
			t.Errorf("%s: %v (format %q), want %v: …%s", tt.name, err, info.Format, ErrNoPreview, tt.msg)
		}
	}
}

// TestSniff_TIFFBasedRaw tells raw files whose header is a plain TIFF's
// from TIFF images by their first directory.
func TestSniff_TIFFBasedRaw(t *testing.T) {
	maker := tiffEntry{0x010F, typeASCII, 4, 0x4E4F53} // "SON"
	sub := tiffEntry{tagSubIFDs, typeLong, 1, dir(0)}
	tests := []struct {
		name string
		ifd  []tiffEntry
		want string
	}{
		{"make and subIFDs (ARW, PEF)", []tiffEntry{maker, sub}, FormatRAW},
		{"reduced with subIFDs (NEF)", []tiffEntry{{tagNewSubfileType, typeLong, 1, 1}, sub}, FormatRAW},
		{"make only (a camera's TIFF)", []tiffEntry{maker}, FormatTIFF},
		{"subIFDs only (layered TIFF)", []tiffEntry{sub}, FormatTIFF},
	}
	for _, tt := range tests {
		if got := Sniff(buildTIFF("II*\x00", "", [][]tiffEntry{tt.ifd}, []int{-1}, nil)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestDecodeFile_RawByExtension: a raw file whose first directory looks
// like a plain TIFF's (no DNGVersion, Make or SubIFDs) is known by its
// extension when the name is given, and read by its preview.
func TestDecodeFile_RawByExtension(t *testing.T) {
	preview, _ := rawFixtures(t)
	b := buildTIFF("II*\x00", "", [][]tiffEntry{
		{{0x0100, typeShort, 1, 4}, {0x0101, typeShort, 1, 4}}, // a 4×4 image without strips
		{{tagJPEGOffset, typeLong, 1, blob(0)}, {tagJPEGLength, typeLong, 1, uint32(len(preview))}},
	}, []int{1, -1}, [][]byte{preview})
	if got := Sniff(b); got != FormatTIFF {
		t.Fatalf("sniffs as %q, want tiff (by content alone)", got)
	}
	dir := t.TempDir()
	for name, want := range map[string]string{"IMG_1.PEF": FormatRAW, "x.nef": FormatRAW, "scan.tif": FormatTIFF} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		img, info, err := DecodeFile(p, nil)
		if info.Format != want {
			t.Errorf("%s: format %q, want %q", name, info.Format, want)
		}
		if want == FormatRAW && (err != nil || img.W != 451) {
			t.Errorf("%s: %v, want the 451-pixel-wide preview", name, err)
		}
	}
}

package extractor

import (
	"bytes"
	"encoding/binary"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// readEXIF reads the capture time, with or without its zone, and the
// camera from blocks of both byte orders.
func TestReadEXIF_Fields(t *testing.T) {
	paris := time.FixedZone("paris", 2*3600)
	tests := []struct {
		name    string
		when    imagetest.EXIFTime
		takenAt string
		taken   time.Time // zero: unknown
		make    string
		model   string
	}{
		{"offset and camera", imagetest.EXIFTime{Original: "2021:07:08 09:10:11", Offset: "+01:00", Make: "Canon", Model: "Canon EOS 5D Mark IV"},
			"2021-07-08T09:10:11+01:00", time.Date(2021, 7, 8, 8, 10, 11, 0, time.UTC), "Canon", "Canon EOS 5D Mark IV"},
		{"zone unknown", imagetest.EXIFTime{Original: "2021:07:08 09:10:11", Make: "NIKON CORPORATION", Model: "NIKON D850"},
			"2021-07-08T09:10:11", time.Date(2021, 7, 8, 9, 10, 11, 0, paris), "NIKON CORPORATION", "NIKON D850"},
		{"UTC and sub-second", imagetest.EXIFTime{Original: "2021:07:08 09:10:11", Offset: "Z", SubSec: "25"},
			"2021-07-08T09:10:11.25Z", time.Date(2021, 7, 8, 9, 10, 11, 250_000_000, time.UTC), "", ""},
		{"negative offset, short make", imagetest.EXIFTime{Original: "2020:02:29 23:59:59", Offset: "-0530", Make: "LG", Model: "Pixel 7"},
			"2020-02-29T23:59:59-05:30", time.Date(2020, 3, 1, 5, 29, 59, 0, time.UTC), "LG", "Pixel 7"},
		{"camera without a date", imagetest.EXIFTime{Make: "  Apple  ", Model: "iPhone 15\x01 Pro"},
			"", time.Time{}, "Apple", "iPhone 15 Pro"},
		{"blank date", imagetest.EXIFTime{Original: "    :  :     :  :  ", Offset: "+02:00"},
			"", time.Time{}, "", ""},
	}
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tt := range tests {
			t.Run(bo.String()+"/"+tt.name, func(t *testing.T) {
				m := readEXIF(imagetest.EXIFBlock(bo, 1, tt.when), paris)
				var want int64
				if !tt.taken.IsZero() {
					want = tt.taken.UnixNano()
				}
				if m.Taken != want || m.TakenAt != tt.takenAt || m.Make != tt.make || m.Model != tt.model {
					t.Errorf("got %+v, want taken %v (%q), camera %q %q", m, tt.taken, tt.takenAt, tt.make, tt.model)
				}
			})
		}
	}
}

// DecodeBytes passes the capture time and camera out in Info for a JPEG
// (APP1) and for a raw file (its own IFD0, else its preview's EXIF), and
// leaves them empty without EXIF.
func TestDecode_CaptureMetadata(t *testing.T) {
	when := imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Offset: "+02:00", Make: "FUJIFILM", Model: "X-T4"}
	jpg := jpegOf(t, quadImage())
	withEXIF := imagetest.InsertAPP1(jpg, imagetest.EXIFBlock(binary.BigEndian, 1, when))
	check := func(t *testing.T, info Info, takenAt, make, model string) {
		t.Helper()
		if info.TakenAt != takenAt || info.Make != make || info.Model != model {
			t.Errorf("Info %+v, want taken %q camera %q %q", info, takenAt, make, model)
		}
		if (info.Taken == 0) != (takenAt == "") {
			t.Errorf("Taken %d disagrees with TakenAt %q", info.Taken, takenAt)
		}
	}
	t.Run("jpeg", func(t *testing.T) {
		_, info, err := DecodeBytes(withEXIF, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, info, "2019-05-02T10:11:12+02:00", "FUJIFILM", "X-T4")
		if want := time.Date(2019, 5, 2, 8, 11, 12, 0, time.UTC).UnixNano(); info.Taken != want {
			t.Errorf("Taken %v, want 08:11:12 UTC", time.Unix(0, info.Taken).UTC())
		}
	})
	t.Run("jpeg without EXIF", func(t *testing.T) {
		_, info, err := DecodeBytes(jpg, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, info, "", "", "")
	})
	preview, _ := rawFixtures(t)
	t.Run("raw IFD0", func(t *testing.T) {
		raw := dngLike(preview, nil, 1)
		// Append Make and Model to IFD0 as offset strings at the end.
		raw = withIFD0Strings(t, raw, map[uint16]string{tagMake: "Canon", tagModel: "Canon EOS R5"})
		_, info, err := DecodeBytes(raw, &DecodeOptions{Name: "x.dng"})
		if err != nil {
			t.Fatal(err)
		}
		check(t, info, "", "Canon", "Canon EOS R5")
	})
	t.Run("raw preview's EXIF", func(t *testing.T) {
		raw := cr3Like(imagetest.InsertAPP1(preview, imagetest.EXIFBlock(binary.LittleEndian, 1, when)), jpegOf(t, image.NewGray(image.Rect(0, 0, 40, 30))))
		_, info, err := DecodeBytes(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.Format != FormatRAW {
			t.Fatalf("format %q, want raw", info.Format)
		}
		check(t, info, "2019-05-02T10:11:12+02:00", "FUJIFILM", "X-T4")
	})
}

// withIFD0Strings rewrites a little-endian TIFF built by buildTIFF with
// extra ASCII entries in IFD0: a new IFD0 appended at the end, with the
// old entries plus these (tags kept in ascending order), strings after
// it, and the header pointing to it.
func withIFD0Strings(t *testing.T, b []byte, strs map[uint16]string) []byte {
	t.Helper()
	le := binary.LittleEndian
	tr, ok := newTIFFReader(b)
	if !ok {
		t.Fatal("not a TIFF")
	}
	var entries [][]byte
	for e := range tr.ifd0() {
		raw := le.AppendUint16(nil, e.tag)
		raw = le.AppendUint16(raw, e.typ)
		raw = le.AppendUint32(raw, e.count)
		entries = append(entries, append(raw, e.value...))
	}
	ifd0 := uint32(le.Uint32(b[4:]))
	next := le.Uint32(b[ifd0+2+12*uint32(len(entries)):])
	at := uint32(len(b))
	data := at + 2 + 12*uint32(len(entries)+len(strs)) + 4
	var tail []byte
	for tag, s := range strs {
		raw := le.AppendUint16(nil, tag)
		raw = le.AppendUint16(raw, typeASCII)
		raw = le.AppendUint32(raw, uint32(len(s)+1))
		raw = le.AppendUint32(raw, data+uint32(len(tail)))
		tail = append(tail, append([]byte(s), 0)...)
		entries = append(entries, raw)
	}
	// Sort by tag.
	for i := range entries {
		for j := i + 1; j < len(entries); j++ {
			if le.Uint16(entries[j]) < le.Uint16(entries[i]) {
				entries[i], entries[j] = entries[j], entries[i]
			}
		}
	}
	out := append([]byte(nil), b...)
	le.PutUint32(out[4:], at)
	out = le.AppendUint16(out, uint16(len(entries)))
	for _, e := range entries {
		out = append(out, e...)
	}
	out = le.AppendUint32(out, next)
	return append(out, tail...)
}

// FuzzReadEXIF checks that no block makes the reader panic, that a
// capture time comes with its RFC 3339 text (which reads back as the same
// instant when it has a zone) and that camera strings are printable.
func FuzzReadEXIF(f *testing.F) {
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		f.Add(imagetest.EXIFBlock(bo, 6, imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Offset: "+02:00", SubSec: "123", Make: "Canon", Model: "EOS"}))
		f.Add(imagetest.EXIFBlock(bo, 1, imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Make: "LG"}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := readEXIF(b, time.UTC)
		if (m.Taken == 0) != (m.TakenAt == "") {
			t.Fatalf("Taken %d but TakenAt %q", m.Taken, m.TakenAt)
		}
		if m.TakenAt != "" {
			layout := takenLayout
			if len(m.TakenAt) > len("2006-01-02T15:04:05") && strings.ContainsAny(m.TakenAt[19:], "Z+-") {
				layout = time.RFC3339Nano
			}
			when, err := time.ParseInLocation(layout, m.TakenAt, time.UTC)
			if err != nil || when.UnixNano() != m.Taken {
				t.Fatalf("TakenAt %q reads as %v (%v), Taken is %v", m.TakenAt, when, err, time.Unix(0, m.Taken).UTC())
			}
		}
		for _, s := range []string{m.Make, m.Model} {
			if len(s) > maxASCII || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
				t.Fatalf("camera string %q is not printable text of at most %d bytes", s, maxASCII)
			}
		}
	})
}

// A HEIC or AVIF made by heif-enc from a JPEG with EXIF keeps that EXIF
// as an Exif item: its capture time and camera come out in Info on both
// decode paths; without EXIF they are empty.
func TestDecode_HEIFCaptureMetadata(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(photosDir, "cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	when := imagetest.EXIFTime{Original: "2023:11:12 13:14:15", Offset: "-08:00", Make: "Apple", Model: "iPhone 15 Pro"}
	withEXIF := filepath.Join(dir, "exif.jpg")
	if err := os.WriteFile(withEXIF, imagetest.InsertAPP1(src, imagetest.EXIFBlock(binary.BigEndian, 1, when)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"heic", "avif"} {
		with := imagetest.HEIFEnc(t, withEXIF, filepath.Join(dir, "with."+ext), "-q", "50")
		without := imagetest.HEIFEnc(t, filepath.Join(photosDir, "cat.jpg"), filepath.Join(dir, "without."+ext), "-q", "50")
		if blk := heifEXIF(with); blk == nil {
			t.Fatalf("%s: no Exif item found", ext)
		}
		for name, dec := range heifDecoders {
			t.Run(ext+"/"+name, func(t *testing.T) {
				info := Info{Format: Sniff(with)}
				info.setEXIF(readEXIF(exifBlock(info.Format, with), time.UTC))
				_, got, err := dec(with, DecodeOptions{MaxPixels: DefaultMaxPixels}, info)
				if err != nil {
					t.Fatal(err)
				}
				if got.TakenAt != "2023-11-12T13:14:15-08:00" || got.Make != "Apple" || got.Model != "iPhone 15 Pro" {
					t.Errorf("Info %+v, want the JPEG's capture time and camera", got)
				}
			})
		}
		_, info, err := DecodeBytes(with, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2023, 11, 12, 21, 14, 15, 0, time.UTC).UnixNano(); info.Taken != want || info.Model != "iPhone 15 Pro" {
			t.Errorf("%s DecodeBytes: %+v, want taken 21:14:15 UTC by an iPhone 15 Pro", ext, info)
		}
		// libheif applies the container's rotation; EXIF's orientation is
		// never applied on top.
		if info.Orientation != 0 {
			t.Errorf("%s: orientation %d applied from EXIF", ext, info.Orientation)
		}
		_, info, err = DecodeBytes(without, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.TakenAt != "" || info.Taken != 0 || info.Make != "" || info.Model != "" {
			t.Errorf("%s without EXIF: %+v, want no capture time or camera", ext, info)
		}
	}
}

// FuzzHEIFEXIF checks that no file makes the Exif item finder panic or
// return bytes outside the file.
func FuzzHEIFEXIF(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"))
	f.Add(heifWithEXIF(imagetest.EXIFBlock(binary.LittleEndian, 1, imagetest.EXIFTime{Original: "2022:01:02 03:04:05", Offset: "+09:00", Make: "Sony"})))
	f.Fuzz(func(t *testing.T, b []byte) {
		blk := heifEXIF(b)
		if len(blk) > len(b) {
			t.Fatalf("Exif block of %d bytes from a %d-byte file", len(blk), len(b))
		}
		readEXIF(blk, time.UTC)
	})
}

// heifWithEXIF lays out the boxes of a HEIF file that matter to
// heifEXIF: ftyp, a meta box whose iinf lists item 1 of type Exif and
// whose iloc (version 0, 32-bit offsets and lengths) puts it in mdat, and
// mdat holding the item: a zero TIFF-header offset, then block.
func heifWithEXIF(block []byte) []byte {
	be := binary.BigEndian
	bx := func(typ string, body ...[]byte) []byte {
		b := be.AppendUint32(nil, uint32(8+len(bytes.Join(body, nil))))
		return append(append(b, typ...), bytes.Join(body, nil)...)
	}
	ftyp := bx("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	infe := bx("infe", []byte{2, 0, 0, 0, 0, 1, 0, 0}, []byte("Exif\x00"))
	iinf := bx("iinf", []byte{0, 0, 0, 0, 0, 1}, infe)
	item := append(be.AppendUint32(nil, 0), block...)
	iloc := func(off uint32) []byte {
		body := []byte{0, 0, 0, 0, 0x44, 0x00, 0, 1, 0, 1, 0, 0, 0, 1}
		body = be.AppendUint32(body, off)
		return bx("iloc", be.AppendUint32(body, uint32(len(item))))
	}
	meta := bx("meta", []byte{0, 0, 0, 0}, iinf, iloc(0))
	off := uint32(len(ftyp) + len(meta) + 8)
	meta = bx("meta", []byte{0, 0, 0, 0}, iinf, iloc(off))
	return bytes.Join([][]byte{ftyp, meta, bx("mdat", item)}, nil)
}

// heifEXIF finds the Exif item of a HEIF file laid out by hand (so this
// runs without heif-enc) and refuses one whose extent leaves the file.
func TestHEIFEXIF_Synthetic(t *testing.T) {
	block := imagetest.EXIFBlock(binary.BigEndian, 1, imagetest.EXIFTime{Original: "2022:01:02 03:04:05", Make: "Apple", Model: "iPhone 13"})
	f := heifWithEXIF(block)
	if got := heifEXIF(f); !bytes.Equal(got, block) {
		t.Fatalf("heifEXIF returned %d bytes, want the %d-byte block", len(got), len(block))
	}
	if m := readEXIF(exifBlock(FormatHEIC, f), time.UTC); m.TakenAt != "2022-01-02T03:04:05" || m.Model != "iPhone 13" {
		t.Errorf("readEXIF of the HEIF: %+v", m)
	}
	if got := heifEXIF(f[:len(f)-1]); got != nil {
		t.Errorf("truncated mdat: got %d bytes, want none", len(got))
	}
	// Point the TIFF-header offset past the item.
	bad := bytes.Clone(f)
	binary.BigEndian.PutUint32(bad[len(bad)-len(block)-4:], uint32(len(block)+1))
	if got := heifEXIF(bad); got != nil {
		t.Errorf("TIFF header offset past the item: got %d bytes, want none", len(got))
	}
}

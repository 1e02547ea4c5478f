package extractor

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

func TestParseEXIFTime(t *testing.T) {
	paris := time.FixedZone("paris", 2*3600)
	tests := []struct {
		name, date, offset, frac string
		want                     time.Time // zero: unknown
	}{
		{"local wall clock", "2019:05:02 10:11:12", "", "", time.Date(2019, 5, 2, 10, 11, 12, 0, paris)},
		{"with offset", "2019:05:02 10:11:12", "-05:00", "", time.Date(2019, 5, 2, 15, 11, 12, 0, time.UTC)},
		{"offset without colon", "2019:05:02 10:11:12", "+0530", "", time.Date(2019, 5, 2, 4, 41, 12, 0, time.UTC)},
		{"offset Z", "2019:05:02 10:11:12", "Z", "", time.Date(2019, 5, 2, 10, 11, 12, 0, time.UTC)},
		{"sub-second", "2019:05:02 10:11:12", "", "25", time.Date(2019, 5, 2, 10, 11, 12, 250_000_000, paris)},
		{"nanoseconds", "2019:05:02 10:11:12", "", "000000007", time.Date(2019, 5, 2, 10, 11, 12, 7, paris)},
		{"padded", "2019:05:02 10:11:12\x00 ", " +02:00 ", "5 ", time.Date(2019, 5, 2, 10, 11, 12, 500_000_000, paris)},
		{"dashes in the date", "2019-05-02 10:11:12", "", "", time.Date(2019, 5, 2, 10, 11, 12, 0, paris)},
		{"malformed offset is ignored", "2019:05:02 10:11:12", "+25:00", "", time.Date(2019, 5, 2, 10, 11, 12, 0, paris)},
		{"malformed fraction is ignored", "2019:05:02 10:11:12", "", "1x", time.Date(2019, 5, 2, 10, 11, 12, 0, paris)},
		{"blank", "    :  :     :  :  ", "", "", time.Time{}},
		{"zero", "0000:00:00 00:00:00", "", "", time.Time{}},
		{"empty", "", "", "", time.Time{}},
		{"no time", "2019:05:02", "", "", time.Time{}},
		{"month 13", "2019:13:02 10:11:12", "", "", time.Time{}},
		{"before 1800", "1700:01:01 00:00:00", "", "", time.Time{}},
		{"after 2200", "2262:05:02 10:11:12", "", "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseEXIFTime(tt.date, tt.offset, tt.frac, paris)
			var want int64
			if !tt.want.IsZero() {
				want = tt.want.UnixNano()
			}
			if got != want {
				t.Errorf("parseEXIFTime(%q, %q, %q) = %v, want %v", tt.date, tt.offset, tt.frac, time.Unix(0, got), tt.want)
			}
		})
	}
}

// exifTaken finds DateTimeOriginal in every container that carries EXIF,
// in both byte orders.
func TestEXIFTaken_Containers(t *testing.T) {
	when := imagetest.EXIFTime{Original: "2021:07:08 09:10:11", Offset: "+01:00", SubSec: "5"}
	want := time.Date(2021, 7, 8, 8, 10, 11, 500_000_000, time.UTC).UnixNano()
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		block := imagetest.EXIFBlock(bo, 6, when)
		jpg := imagetest.InsertAPP1(jpegOf(t, quadImage()), block)
		png := pngOf(t, quadImage())
		ihdrEnd := 8 + 8 + 13 + 4
		pngEXIF := bytes.Join([][]byte{png[:ihdrEnd], pngChunk("eXIf", block), png[ihdrEnd:]}, nil)
		tests := []struct {
			name, format string
			data         []byte
		}{
			{"jpeg", FormatJPEG, jpg},
			{"png", FormatPNG, pngEXIF},
			{"webp", FormatWebP, webpWithEXIF(block)},
			{"tiff", FormatTIFF, block},
			{"raw", FormatRAW, block},
		}
		for _, tt := range tests {
			t.Run(bo.String()+"/"+tt.name, func(t *testing.T) {
				if got := exifTaken(tt.format, tt.data, time.UTC); got != want {
					t.Errorf("taken %v, want %v", time.Unix(0, got).UTC(), time.Unix(0, want).UTC())
				}
				// The orientation is still read from the same block.
				if o := exifOrientation(tt.format, tt.data); o != 6 {
					t.Errorf("orientation %d, want 6", o)
				}
			})
		}
	}
}

func TestDecode_Taken(t *testing.T) {
	when := imagetest.EXIFTime{Original: "2019:05:02 10:11:12"}
	jpg := jpegOf(t, quadImage())
	_, info, err := DecodeBytes(imagetest.InsertAPP1(jpg, imagetest.EXIFBlock(binary.BigEndian, 1, when)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// No offset: the wall clock in the local zone, as the camera wrote it.
	if want := time.Date(2019, 5, 2, 10, 11, 12, 0, time.Local).UnixNano(); info.Taken != want {
		t.Errorf("Taken %d (%v), want %d", info.Taken, time.Unix(0, info.Taken), want)
	}
	_, info, err = DecodeBytes(jpg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Taken != 0 {
		t.Errorf("Taken %d for a JPEG without EXIF, want 0", info.Taken)
	}
}

// A damaged EXIF block means an unknown capture time, never a panic or a
// read outside it.
func TestEXIFTaken_Malformed(t *testing.T) {
	le := binary.LittleEndian
	good := imagetest.EXIFBlock(le, 1, imagetest.EXIFTime{Original: "2019:05:02 10:11:12"})
	if exifTaken(FormatTIFF, good, time.UTC) == 0 {
		t.Fatal("the well-formed block gives no time")
	}
	patch := func(at int, v uint32) []byte {
		b := bytes.Clone(good)
		le.PutUint32(b[at:], v)
		return b
	}
	// Offsets in the block: IFD0 at 8 (count, then entries of 12 bytes);
	// the ExifIFD pointer's value at 8+2+12+8; the sub-directory at 38,
	// its first entry's count at 38+2+4 and value at 38+2+8.
	const subPtr, dateCount, dateOff = 8 + 2 + 12 + 8, 38 + 2 + 4, 38 + 2 + 8
	tests := []struct {
		name string
		b    []byte
	}{
		{"truncated in the sub-directory", good[:45]},
		{"truncated in the date", good[:len(good)-5]},
		{"sub-directory pointer past the end", patch(subPtr, 1<<31)},
		{"sub-directory pointer into the header", patch(subPtr, 2)},
		{"sub-directory pointer to itself", patch(subPtr, 8)},
		{"date offset past the end", patch(dateOff, uint32(len(good)))},
		{"date offset wraps", patch(dateOff, 0xFFFFFFF0)},
		{"date count huge", patch(dateCount, 1<<30)},
		{"date count short", patch(dateCount, 4)},
		{"no TIFF header", good[4:]},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exifTaken(FormatTIFF, tt.b, time.UTC); got != 0 {
				t.Errorf("taken %v, want unknown", time.Unix(0, got).UTC())
			}
		})
	}
}

// FuzzEXIFTaken checks that no EXIF block makes the reader panic, and that
// what it returns is 0 or a time in the range it promises.
func FuzzEXIFTaken(f *testing.F) {
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		f.Add(imagetest.EXIFBlock(bo, 6, imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Offset: "+02:00", SubSec: "123"}))
		f.Add(imagetest.EXIFBlock(bo, 1, imagetest.EXIFTime{Original: "2019:05:02 10:11:12"}))
	}
	f.Add(exifTIFF(binary.BigEndian, 3))
	lo, hi := time.Date(1799, 12, 30, 0, 0, 0, 0, time.UTC).UnixNano(), time.Date(2201, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	f.Fuzz(func(t *testing.T, b []byte) {
		got := exifTaken(FormatTIFF, b, time.UTC)
		if got != 0 && (got < lo || got > hi) {
			t.Fatalf("taken %v is outside 1800..2200", time.Unix(0, got).UTC())
		}
		exifOrientation(FormatTIFF, b)
	})
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// webpWithEXIF returns the chunks of an extended WebP file that matter to
// the EXIF reader: a VP8X header chunk, then an odd-sized EXIF chunk.
func webpWithEXIF(block []byte) []byte {
	le := binary.LittleEndian
	vp8x := append([]byte("VP8X"), le.AppendUint32(nil, 10)...)
	vp8x = append(vp8x, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	exif := append([]byte("EXIF"), le.AppendUint32(nil, uint32(len(block)))...)
	exif = append(exif, block...)
	body := append([]byte("WEBP"), vp8x...)
	body = append(body, exif...)
	return append(append([]byte("RIFF"), le.AppendUint32(nil, uint32(len(body)))...), body...)
}

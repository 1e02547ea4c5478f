package store

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestItemCodec_RoundTrip(t *testing.T) {
	full := testItem(7)
	full.State = StateMissing
	tests := []struct {
		name string
		item Item
	}{
		{"zero", Item{}},
		{"typical", testItem(2)},
		{"labelled", testItem(3)},
		{"camera and zoned time", testItem(10)},
		{"camera and wall-clock time", testItem(5)},
		{"camera only", Item{Path: "/a.jpg", Make: "Apple", Model: "iPhone 15 Pro"}},
		{"empty label set", Item{Path: "/a.png", Labels: []LabelSet{{Source: "head"}}}},
		{"missing", full},
		{"extremes", Item{Path: strings.Repeat("é/", 2000), Size: math.MinInt64, ModTime: math.MaxInt64,
			Width: math.MaxInt32, Height: 1, Format: "webp", State: State(200), Taken: math.MinInt64}},
		{"taken before 1970", Item{Path: "/scan.tif", Taken: -1_000_000_000_000_000_000}},
		{"non-utf8 path", Item{Path: "/photos/\xff\xfe.jpg", Size: -1, ModTime: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendItem(nil, tt.item)
			got, err := decodeItem(b)
			if err != nil {
				t.Fatalf("decodeItem: %v", err)
			}
			if !reflect.DeepEqual(got, tt.item) {
				t.Errorf("round trip changed the item:\n got %+v\nwant %+v", got, tt.item)
			}
		})
	}
}

func TestItemCodec_Compact(t *testing.T) {
	it := testItem(4)
	b := appendItem(nil, it)
	// codec + path + size + mtime + hash + sides + format + state + taken
	// + no label sets + three empty strings, in varints: well under what JSON (with a hex hash)
	// would take.
	if max := 1 + 1 + len(it.Path) + 4 + 9 + 32 + 3 + 3 + 1 + len(it.Format) + 1 + 9 + 1 + 3; len(b) > max {
		t.Errorf("encoded item is %d bytes, want at most %d", len(b), max)
	}
}

func TestDecodeItem_RejectsGarbage(t *testing.T) {
	good := appendItem(nil, testItem(2))
	labelled := appendItemCodec3(testItem(3))
	camera := appendItem(nil, testItem(10))
	// A codec 4 record whose capture time is EXIF's own text.
	badTaken := append(appendItemCodec3(testItem(2)), 19)
	badTaken = append(badTaken, "2019:05:02 10:11:12"...)
	badTaken = append(badTaken, 0, 0)
	badTaken[0] = 4
	tests := []struct {
		name    string
		b       []byte
		wantErr string
	}{
		{"empty", nil, "truncated"},
		{"unknown codec", append([]byte{9}, good[1:]...), "unknown item codec 9"},
		{"codec 0", append([]byte{0}, good[1:]...), "unknown item codec 0"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"truncated in hash", good[:60], "truncated"},
		{"stray byte", append(slices.Clip(good), 0), "stray"},
		{"path longer than record", []byte{itemCodec, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}, "truncated"},
		{"width out of range", appendItemRaw(1 << 40), "out of range"},
		{"overlong varint", append([]byte{itemCodec}, slices.Repeat([]byte{0x80}, 11)...), "bad varint"},
		{"more label sets than bytes", append(append([]byte{itemCodec}, appendItemCodec2(testItem(2))[1:]...), 0xff, 0xff, 0x03), "truncated"},
		{"labelled, truncated", labelled[:len(labelled)-3], "truncated"},
		{"labelled, stray byte", append(slices.Clip(labelled), 0), "stray"},
		{"probability out of range", append(labelled[:len(labelled)-4:len(labelled)-4], 0, 0, 0xc0, 0x7f), "out of range"},
		{"camera, truncated", camera[:len(camera)-2], "truncated"},
		{"camera, stray byte", append(slices.Clip(camera), 0), "stray"},
		{"capture time not RFC 3339", badTaken, "not RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := decodeItem(tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decodeItem(%x) = %+v, %v; want an error saying %q", tt.b, it, err, tt.wantErr)
			}
		})
	}
}

// appendItemCodec1 encodes it as codec 1 did, before the capture time:
// written out here, not derived from appendItem, so that a change to the
// current codec cannot hide a break of the old one.
func appendItemCodec1(it Item) []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, uint64(len(it.Path)))
	b = append(b, it.Path...)
	b = binary.AppendVarint(b, it.Size)
	b = binary.AppendVarint(b, it.ModTime)
	b = append(b, it.Hash[:]...)
	b = binary.AppendUvarint(b, uint64(it.Width))
	b = binary.AppendUvarint(b, uint64(it.Height))
	b = binary.AppendUvarint(b, uint64(len(it.Format)))
	b = append(b, it.Format...)
	return append(b, byte(it.State))
}

// Records written before the capture time was stored still decode, with
// Taken unknown; re-encoded they become the current codec.
func TestDecodeItem_Codec1(t *testing.T) {
	want := testItem(42)
	want.Taken = 0
	old := appendItemCodec1(want)
	want.captureUnread = true // its camera and capture text were never read
	got, err := decodeItem(old)
	if err != nil {
		t.Fatalf("decode a codec 1 record: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codec 1 record:\n got %+v\nwant %+v", got, want)
	}
	if _, err := decodeItem(append(slices.Clip(old), 0)); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("codec 1 record with a trailing byte: %v, want a stray-byte error", err)
	}
	if b := appendItem(nil, got); b[0] != itemCodec || len(b) != len(old)+5 {
		t.Errorf("re-encoded as codec %d in %d bytes, want codec %d in %d", b[0], len(b), itemCodec, len(old)+5)
	}
}

// appendItemCodec2 encodes it as codec 2 did, before the labels: codec
// 1's fields and the capture time.
func appendItemCodec2(it Item) []byte {
	b := appendItemCodec1(it)
	b[0] = 2
	return binary.AppendVarint(b, it.Taken)
}

// Records written before labels were stored still decode, without labels;
// re-encoded they gain four bytes (no label sets, three empty strings).
func TestDecodeItem_Codec2(t *testing.T) {
	want := testItem(42)
	old := appendItemCodec2(want)
	want.captureUnread = true
	got, err := decodeItem(old)
	if err != nil {
		t.Fatalf("decode a codec 2 record: %v", err)
	}
	if !reflect.DeepEqual(got, want) || got.Labels != nil {
		t.Errorf("codec 2 record:\n got %+v\nwant %+v", got, want)
	}
	if _, err := decodeItem(append(slices.Clip(old), 0)); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("codec 2 record with a trailing byte: %v, want a stray-byte error", err)
	}
	if b := appendItem(nil, got); b[0] != itemCodec || len(b) != len(old)+4 {
		t.Errorf("re-encoded as codec %d in %d bytes, want codec %d in %d", b[0], len(b), itemCodec, len(old)+4)
	}
}

// appendItemCodec3 encodes it as codec 3 did, before the capture time as
// written and the camera: codec 2's fields and the label sets.
func appendItemCodec3(it Item) []byte {
	b := appendItemCodec2(it)
	b[0] = 3
	b = binary.AppendUvarint(b, uint64(len(it.Labels)))
	str := func(b []byte, s string) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	for _, s := range it.Labels {
		b = str(b, s.Source)
		b = binary.AppendUvarint(b, uint64(len(s.Top)))
		for _, l := range s.Top {
			b = str(str(b, l.ID), l.Name)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(l.Prob))
		}
	}
	return b
}

// Records written before the camera was stored still decode, with their
// labels and capture time but no TakenAt or camera; re-encoded they gain
// three bytes (three empty strings).
func TestDecodeItem_Codec3(t *testing.T) {
	full := testItem(10)
	old := appendItemCodec3(full)
	got, err := decodeItem(old)
	if err != nil {
		t.Fatalf("decode a codec 3 record: %v", err)
	}
	want := full
	want.TakenAt, want.Make, want.Model = "", "", ""
	want.captureUnread = true
	if !reflect.DeepEqual(got, want) || got.Taken == 0 {
		t.Errorf("codec 3 record:\n got %+v\nwant %+v", got, want)
	}
	labelled := appendItemCodec3(testItem(3))
	if got, err := decodeItem(labelled); err != nil || len(got.Labels) != 2 {
		t.Errorf("codec 3 record with labels: %+v, %v; want its 2 label sets", got, err)
	}
	if _, err := decodeItem(append(slices.Clip(old), 0)); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("codec 3 record with a trailing byte: %v, want a stray-byte error", err)
	}
	if b := appendItem(nil, got); b[0] != itemCodec || len(b) != len(old)+3 {
		t.Errorf("re-encoded as codec %d in %d bytes, want codec %d in %d", b[0], len(b), itemCodec, len(old)+3)
	}
	if !got.CaptureUnread() {
		t.Error("a codec 3 item does not say its capture metadata was never read")
	}
	if again, err := decodeItem(appendItem(nil, got)); err != nil || again.CaptureUnread() {
		t.Errorf("stored again: %+v, %v; want the mark gone", again, err)
	}
}

// appendItemRaw encodes an item whose width is w, which no Item can hold.
func appendItemRaw(w uint64) []byte {
	b := appendItem(nil, Item{})
	// codec, path len, size, mtime, 32-byte hash, then the width.
	head := b[:1+1+1+1+32]
	out := slices.Clone(head)
	out = appendUvarint(out, w)
	return append(out, b[len(head)+1:]...)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestVectorCodec_ExactSize(t *testing.T) {
	v := []float32{0, -0, 1.5, float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
	b := appendVector(nil, v)
	if len(b) != 4*len(v) {
		t.Fatalf("encoded %d floats in %d bytes, want %d: no header", len(v), len(b), 4*len(v))
	}
	// Little-endian: 1.5 is 0x3fc00000.
	if !slices.Equal(b[8:12], []byte{0, 0, 0xc0, 0x3f}) {
		t.Errorf("1.5 encoded as %x, want 0000c03f", b[8:12])
	}
	got := make([]float32, len(v))
	decodeVector(got, b)
	for i := range v {
		if math.Float32bits(got[i]) != math.Float32bits(v[i]) {
			t.Errorf("float %d: got %v, want %v", i, got[i], v[i])
		}
	}
	if n := len(appendVector(nil, make([]float32, 512))); n != 2048 {
		t.Errorf("a 512-d vector takes %d bytes, want 2048", n)
	}
}

func TestFailureCodec_RoundTrip(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	b := appendFailure(nil, Failure{Reason: "decode: unexpected EOF", Time: when})
	reason, ns, err := decodeFailure(b)
	if err != nil {
		t.Fatal(err)
	}
	if reason != "decode: unexpected EOF" || ns != when.UnixNano() {
		t.Errorf("got %q at %d, want %q at %d", reason, ns, "decode: unexpected EOF", when.UnixNano())
	}
	for _, bad := range [][]byte{nil, {2, 0}, {failureCodec}} {
		if _, _, err := decodeFailure(bad); err == nil {
			t.Errorf("decodeFailure(%x) succeeded, want an error", bad)
		}
	}
}

// FuzzDecodeItem checks that no input makes decodeItem panic, and that
// whatever it accepts survives encoding again unchanged.
func FuzzDecodeItem(f *testing.F) {
	f.Add(appendItem(nil, Item{}))
	f.Add(appendItem(nil, testItem(1)))
	f.Add(appendItem(nil, Item{Path: "/a", Size: -5, Width: math.MaxInt32, State: StateMissing}))
	f.Add([]byte{itemCodec, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(appendItemCodec1(testItem(2)))
	f.Add(appendItem(nil, Item{Path: "/b", Taken: -1}))
	f.Add(appendItem(nil, testItem(3)))
	f.Add(appendItemCodec2(testItem(4)))
	f.Add(appendItemCodec3(testItem(3)))
	f.Add(appendItem(nil, testItem(10)))
	f.Add(appendItem(nil, testItem(5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := decodeItem(b)
		if err != nil {
			if !reflect.DeepEqual(it, Item{}) {
				t.Fatalf("failed decode returned %+v", it)
			}
			return
		}
		again, err := decodeItem(appendItem(nil, it))
		if err != nil {
			t.Fatalf("re-encoded item does not decode: %v", err)
		}
		it.captureUnread = false // stored again, an old record's mark goes
		if !reflect.DeepEqual(again, it) {
			t.Fatalf("re-encoding changed the item:\n got %+v\nwant %+v", again, it)
		}
	})
}

// Items are written for scripts: lower-case keys, the hash in hex, the
// state by name, and read back the same.
func TestItem_JSON(t *testing.T) {
	it := testItem(7)
	it.ID, it.State = 9, StateMissing
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":9,"path":"/photos/0007/IMG_000007.jpg","size":3000007,"mtime_ns":1700000007000000049,"sha256":"` + it.Hash.String() + `","width":4001,"height":3000,"format":"jpeg","state":"missing","taken_ns":1500000420000000000,"taken":"","camera_make":"","camera_model":"",` +
		`"labels":[{"source":"imagenet","top":[{"id":"n02129604","name":"tiger","prob":0.5},{"id":"n00000007","name":"tiger cat","prob":0.25}]},` +
		`{"source":"head","top":[{"id":"cats","name":"cats","prob":1}]}]}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	cam := testItem(10)
	if b, _ := json.Marshal(cam); !strings.Contains(string(b), `"taken":"2017-07-14T02:50:00Z","camera_make":"Canon","camera_model":"EOS 1D"`) {
		t.Errorf("JSON of an item with a camera: %s", b)
	}
	if len(it.Hash.String()) != 64 || strings.ToLower(it.Hash.String()) != it.Hash.String() {
		t.Errorf("hash %q is not 64 lower-case hex digits", it.Hash)
	}
	var back Item
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, it) {
		t.Errorf("round trip: %+v, want %+v", back, it)
	}
}

func FuzzDecodeFailure(f *testing.F) {
	f.Add(appendFailure(nil, Failure{Reason: "corrupt image: jpeg: premature end of JPEG file", Time: time.Unix(1_700_000_000, 5)}))
	f.Add(appendFailure(nil, Failure{}))
	f.Add([]byte{failureCodec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{failureCodec + 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		reason, ns, err := decodeFailure(b)
		if err != nil {
			if reason != "" || ns != 0 {
				t.Fatalf("failed decode returned %q, %d", reason, ns)
			}
			return
		}
		r2, ns2, err := decodeFailure(appendFailure(nil, Failure{Reason: reason, Time: time.Unix(0, ns)}))
		if err != nil || r2 != reason || ns2 != ns {
			t.Fatalf("re-encoding changed the failure: %q %d (%v), want %q %d", r2, ns2, err, reason, ns)
		}
	})
}

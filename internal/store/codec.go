package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// itemCodec is the first byte of an encoded Item. A new field means a new
// codec version, decoded alongside the old ones; the schema version changes
// with it, since old binaries could no longer read the records written
// from then on. Codec 1 had no capture time (Taken); codec 2 appends it;
// codec 3 appends the label sets; codec 4 the capture time as EXIF wrote
// it (TakenAt) and the camera.
const itemCodec = 4

// failureCodec is the first byte of an encoded failure record.
const failureCodec = 1

// errShort is returned when a record ends before its fields do.
var errShort = errors.New("record is truncated")

// appendItem appends the encoding of it, without its ID (that is the key):
//
//	codec byte, uvarint len + path, varint size, varint mtime (unix ns),
//	32-byte hash, uvarint width, uvarint height, uvarint len + format,
//	state byte, varint taken (unix ns, 0 unknown; since codec 2),
//	uvarint label sets (since codec 3), each: uvarint len + source,
//	uvarint labels, each: uvarint len + id, uvarint len + name,
//	little-endian float32 probability, uvarint len + taken text,
//	uvarint len + camera make, uvarint len + camera model (since codec 4)
func appendItem(dst []byte, it Item) []byte {
	dst = append(dst, itemCodec)
	dst = binary.AppendUvarint(dst, uint64(len(it.Path)))
	dst = append(dst, it.Path...)
	dst = binary.AppendVarint(dst, it.Size)
	dst = binary.AppendVarint(dst, it.ModTime)
	dst = append(dst, it.Hash[:]...)
	dst = binary.AppendUvarint(dst, uint64(it.Width))
	dst = binary.AppendUvarint(dst, uint64(it.Height))
	dst = binary.AppendUvarint(dst, uint64(len(it.Format)))
	dst = append(dst, it.Format...)
	dst = append(dst, byte(it.State))
	dst = binary.AppendVarint(dst, it.Taken)
	dst = binary.AppendUvarint(dst, uint64(len(it.Labels)))
	for _, s := range it.Labels {
		dst = appendString(dst, s.Source)
		dst = binary.AppendUvarint(dst, uint64(len(s.Top)))
		for _, l := range s.Top {
			dst = appendString(dst, l.ID)
			dst = appendString(dst, l.Name)
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(l.Prob))
		}
	}
	dst = appendString(dst, it.TakenAt)
	dst = appendString(dst, it.Make)
	return appendString(dst, it.Model)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// labels reads the label sets of a codec 3 item. Counts are checked
// against the bytes left (a label takes at least 6), so garbage cannot
// make it allocate more than the record's size.
func (d *decoder) labels() []LabelSet {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	sets := make([]LabelSet, n)
	for i := range sets {
		sets[i].Source = d.string()
		k := d.count(6)
		if k > 0 {
			sets[i].Top = make([]Label, k)
		}
		for j := range sets[i].Top {
			l := &sets[i].Top[j]
			l.ID = d.string()
			l.Name = d.string()
			if b := d.bytes(4); b != nil {
				l.Prob = math.Float32frombits(binary.LittleEndian.Uint32(b))
				if !(l.Prob >= 0 && l.Prob <= 1) && d.err == nil {
					d.err = fmt.Errorf("label probability %v out of range", l.Prob)
				}
			}
		}
	}
	if d.err != nil {
		return nil
	}
	return sets
}

// count reads a uvarint count of elements of at least min bytes each.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errShort
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// decodeItem decodes what appendItem wrote. It copies every byte it keeps,
// so b may point into a transaction, and it rejects garbage with an error.
func decodeItem(b []byte) (Item, error) {
	var it Item
	d := decoder{b: b}
	c := d.byte()
	if d.err == nil && (c < 1 || c > itemCodec) {
		return it, fmt.Errorf("unknown item codec %d", c)
	}
	it.Path = d.string()
	it.Size = d.varint()
	it.ModTime = d.varint()
	copy(it.Hash[:], d.bytes(len(it.Hash)))
	it.Width = d.int()
	it.Height = d.int()
	it.Format = d.string()
	it.State = State(d.byte())
	if c >= 2 {
		it.Taken = d.varint()
	}
	if c >= 3 {
		it.Labels = d.labels()
	}
	it.captureUnread = c < 4
	if c >= 4 {
		it.TakenAt = d.string()
		it.Make = d.string()
		it.Model = d.string()
		if it.TakenAt != "" && !validTakenAt(it.TakenAt) && d.err == nil {
			d.err = fmt.Errorf("capture time %q is not RFC 3339", it.TakenAt)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		return Item{}, fmt.Errorf("%d stray bytes after item", len(d.b))
	}
	if d.err != nil {
		return Item{}, d.err
	}
	return it, nil
}

func appendFailure(dst []byte, f Failure) []byte {
	dst = append(dst, failureCodec)
	dst = binary.AppendVarint(dst, f.Time.UnixNano())
	return append(dst, f.Reason...)
}

// decodeFailure decodes what appendFailure wrote, except the path (the key).
func decodeFailure(b []byte) (reason string, unixNano int64, err error) {
	d := decoder{b: b}
	if c := d.byte(); d.err == nil && c != failureCodec {
		return "", 0, fmt.Errorf("unknown failure codec %d", c)
	}
	unixNano = d.varint()
	if d.err != nil {
		return "", 0, d.err
	}
	return string(d.b), unixNano, nil
}

// appendVector appends v as raw little-endian float32s: no header, so a
// 512-d vector is exactly 2,048 bytes (see pageSize).
func appendVector(dst []byte, v []float32) []byte {
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// decodeVector copies the floats of b into dst, which must hold len(b)/4.
func decodeVector(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// decoder reads fields in order; after the first error every read returns
// a zero value, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = varintErr(n)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = varintErr(n)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varintErr explains the n that binary.Uvarint and Varint return on failure.
func varintErr(n int) error {
	if n == 0 {
		return errShort
	}
	return errors.New("bad varint: longer than 64 bits")
}

// int reads a uvarint that must fit an int32 (image sides).
func (d *decoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		if d.err == nil {
			d.err = fmt.Errorf("value %d out of range", v)
		}
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errShort
		return ""
	}
	return string(d.bytes(int(n)))
}

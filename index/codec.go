package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
)

// Both formats are little-endian: an 8-byte magic, a uint32 version, the
// kind's header, bulk arrays, and a CRC-32C of everything before it.
// Arrays are read in bounded chunks, so a forged count costs at most the
// bytes actually present, never an allocation of the claimed size.

const (
	// formatVersion is the version Flat writes; HNSW writes hnswVersion.
	formatVersion = 1
	// maxDims and maxSlots bound what Load believes before reading data.
	maxDims  = 1 << 16
	maxSlots = 1 << 31
	// chunkBytes is the unit of bulk reads and writes.
	chunkBytes = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type encoder struct {
	bw  *bufio.Writer
	w   io.Writer // bw, also feeding crc
	crc hash.Hash32
	buf []byte
	err error
}

func newEncoder(w io.Writer, magic string, version uint32) *encoder {
	bw := bufio.NewWriterSize(w, chunkBytes)
	crc := crc32.New(castagnoli)
	e := &encoder{bw: bw, w: io.MultiWriter(bw, crc), crc: crc, buf: make([]byte, chunkBytes)}
	e.write([]byte(magic))
	e.u32(version)
	return e
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u32(v uint32) {
	e.write(binary.LittleEndian.AppendUint32(e.buf[:0], v))
}

func (e *encoder) u64(v uint64) {
	e.write(binary.LittleEndian.AppendUint64(e.buf[:0], v))
}

func (e *encoder) float32s(s []float32) {
	for len(s) > 0 && e.err == nil {
		n := min(len(s), chunkBytes/4)
		b := e.buf[:0]
		for _, f := range s[:n] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		e.write(b)
		s = s[n:]
	}
}

func (e *encoder) uint32s(s []uint32) {
	for len(s) > 0 && e.err == nil {
		n := min(len(s), chunkBytes/4)
		b := e.buf[:0]
		for _, v := range s[:n] {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		e.write(b)
		s = s[n:]
	}
}

func (e *encoder) uint64s(s []uint64) {
	for len(s) > 0 && e.err == nil {
		n := min(len(s), chunkBytes/8)
		b := e.buf[:0]
		for _, v := range s[:n] {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		e.write(b)
		s = s[n:]
	}
}

// finish appends the checksum and flushes.
func (e *encoder) finish() error {
	if e.err == nil {
		_, e.err = e.bw.Write(binary.LittleEndian.AppendUint32(e.buf[:0], e.crc.Sum32()))
	}
	if e.err == nil {
		e.err = e.bw.Flush()
	}
	return e.err
}

// decoder reads exactly the bytes of one index, so Load can be used on a
// stream that continues after it.
type decoder struct {
	r   io.Reader
	crc hash.Hash32
	buf []byte
	err error
	// left is the number of bytes the stream still holds when it can say
	// (a file, a bytes.Reader), else -1. Arrays that fit are allocated
	// once at full size; counts that do not fit are rejected at once.
	left int64
	// version is the format version the stream declares.
	version uint32
}

// streamLeft reports how many bytes r still holds, or -1 if unknown.
func streamLeft(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, bytes.Buffer, strings.Reader
		return int64(r.Len())
	case interface {
		io.Seeker
		Stat() (fs.FileInfo, error)
	}: // *os.File
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - pos
	}
	return -1
}

// newDecoder reads the magic and accepts versions 1 to maxVersion, which
// it leaves in d.version.
func newDecoder(r io.Reader, magic string, maxVersion uint32) (*decoder, error) {
	d := &decoder{r: r, crc: crc32.New(castagnoli), buf: make([]byte, chunkBytes), left: streamLeft(r)}
	b := d.read(len(magic))
	if d.err != nil {
		return nil, d.fail()
	}
	if string(b) != magic {
		return nil, fmt.Errorf("magic %q, want %q: %w", b, magic, ErrFormat)
	}
	d.version = d.u32()
	if d.err == nil && (d.version < 1 || d.version > maxVersion) {
		return nil, fmt.Errorf("version %d, want 1 to %d: %w", d.version, maxVersion, ErrFormat)
	}
	return d, d.fail()
}

// read returns the next n ≤ chunkBytes bytes, valid until the next call.
func (d *decoder) read(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
		return nil
	}
	d.crc.Write(b)
	if d.left >= 0 {
		d.left -= int64(n)
	}
	return b
}

// alloc returns the capacity to allocate for n items of size bytes: all of
// it when the stream is known to hold them, one chunk when its length is
// unknown. A count the stream cannot hold stops the decoding.
func (d *decoder) alloc(n, size int) int {
	if d.left < 0 {
		return min(n, chunkBytes/size)
	}
	if int64(n)*int64(size) > d.left {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	return n
}

func (d *decoder) u32() uint32 {
	if b := d.read(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.read(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) float32s(n int) []float32 {
	s := make([]float32, 0, d.alloc(n, 4))
	for len(s) < n && d.err == nil {
		b := d.read(4 * min(n-len(s), chunkBytes/4))
		for i := 0; i < len(b); i += 4 {
			s = append(s, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
	}
	return s
}

func (d *decoder) uint32s(n int) []uint32 {
	s := make([]uint32, 0, d.alloc(n, 4))
	for len(s) < n && d.err == nil {
		b := d.read(4 * min(n-len(s), chunkBytes/4))
		for i := 0; i < len(b); i += 4 {
			s = append(s, binary.LittleEndian.Uint32(b[i:]))
		}
	}
	return s
}

func (d *decoder) uint64s(n int) []uint64 {
	s := make([]uint64, 0, d.alloc(n, 8))
	for len(s) < n && d.err == nil {
		b := d.read(8 * min(n-len(s), chunkBytes/8))
		for i := 0; i < len(b); i += 8 {
			s = append(s, binary.LittleEndian.Uint64(b[i:]))
		}
	}
	return s
}

func (d *decoder) bytes(n int) []byte {
	s := make([]byte, 0, d.alloc(n, 1))
	for len(s) < n && d.err == nil {
		s = append(s, d.read(min(n-len(s), chunkBytes))...)
	}
	return s
}

// finish checks the trailing checksum.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.fail()
	}
	want := d.crc.Sum32()
	b := d.buf[:4]
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
		return d.fail()
	}
	if got := binary.LittleEndian.Uint32(b); got != want {
		return fmt.Errorf("checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	return nil
}

// fail reports the first read error, calling a short stream corrupt.
func (d *decoder) fail() error {
	switch {
	case d.err == nil:
		return nil
	case errors.Is(d.err, io.EOF), errors.Is(d.err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated: %w", ErrCorrupt)
	default:
		return fmt.Errorf("read index: %w", d.err)
	}
}

// corrupt formats a validation failure.
func corrupt(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrCorrupt)...)
}

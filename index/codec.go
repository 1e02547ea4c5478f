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
	"slices"
	"unsafe"
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
	// arrayAlign is where a format that pads (HNSW version 3) starts each
	// bulk array, counted from the magic: a cache line, so that arrays
	// used in place from a memory map are aligned for every element type.
	arrayAlign = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// littleEndian reports whether this CPU keeps numbers in the snapshot's
// byte order. Then arrays are copied as bytes rather than converted one
// number at a time: at 100k 512-d vectors the conversion was 180 of the
// 250 ms a load took (a cold query's profile on 2 cores).
func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// asBytes is the memory of s as bytes, in the CPU's byte order.
func asBytes[T float32 | uint32 | uint64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

type encoder struct {
	bw  *bufio.Writer
	w   io.Writer // bw, also feeding crc
	crc hash.Hash32
	buf []byte
	pos int64 // bytes written, for align
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
		e.pos += int64(len(p))
	}
}

// align writes zeros up to the next multiple of arrayAlign.
func (e *encoder) align() {
	if pad := padding(e.pos); pad > 0 {
		clear(e.buf[:pad])
		e.write(e.buf[:pad])
	}
}

// padding is how many bytes lie between pos and the next multiple of
// arrayAlign.
func padding(pos int64) int { return int(-pos & (arrayAlign - 1)) }

func (e *encoder) u32(v uint32) {
	e.write(binary.LittleEndian.AppendUint32(e.buf[:0], v))
}

func (e *encoder) u64(v uint64) {
	e.write(binary.LittleEndian.AppendUint64(e.buf[:0], v))
}

func (e *encoder) float32s(s []float32) {
	if littleEndian() {
		e.native(asBytes(s))
		return
	}
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
	if littleEndian() {
		e.native(asBytes(s))
		return
	}
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
	if littleEndian() {
		e.native(asBytes(s))
		return
	}
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

// native writes an array already in the snapshot's byte order, in chunks.
func (e *encoder) native(b []byte) {
	for len(b) > 0 && e.err == nil {
		n := min(len(b), chunkBytes)
		e.write(b[:n])
		b = b[n:]
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
	r    io.Reader
	lend lender // r, when it lends its bytes in place; else nil
	// mem, when not nil, is the whole stream in memory (a memory map),
	// read from pos on without r; arrays may then be used in place (see
	// inPlace).
	mem []byte
	pos int64 // bytes read, for align (the offset into mem)
	// inPlace is set when an array was returned as a view of mem rather
	// than a copy: mem must then live as long as the decoded index.
	inPlace bool
	crc     hash.Hash32
	buf     []byte
	err     error
	// left is the number of bytes the stream still holds when it can say
	// (a file, a bytes.Reader), else -1. Arrays that fit are allocated
	// once at full size; counts that do not fit are rejected at once.
	left int64
	// version is the format version the stream declares.
	version uint32
}

// A lender hands out its next bytes where they already lie instead of
// copying them into the caller's buffer: Next returns 1 to n bytes, valid
// until the next call, or no bytes and an error (io.EOF at the end). The
// snapshot reader of internal/store is one (its chunks lie in the
// database's memory map); the decoder then decodes each chunk straight
// from there into the arrays, one copy fewer than Read. The name and
// signature differ from bytes.Buffer.Next on purpose.
type lender interface {
	Next(n int) ([]byte, error)
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
	d.lend, _ = r.(lender)
	return d.start(magic, maxVersion)
}

// newMemDecoder decodes the stream that fills mem, using its arrays in
// place where the format aligns them (see decoder.inPlace).
func newMemDecoder(mem []byte, magic string, maxVersion uint32) (*decoder, error) {
	d := &decoder{mem: mem, crc: crc32.New(castagnoli), buf: make([]byte, chunkBytes), left: int64(len(mem))}
	return d.start(magic, maxVersion)
}

func (d *decoder) start(magic string, maxVersion uint32) (*decoder, error) {
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

// read returns the next n ≤ chunkBytes bytes (any n from memory), valid
// until the next call.
func (d *decoder) read(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := d.fill(n)
	if b == nil {
		return nil
	}
	d.crc.Write(b)
	d.pos += int64(n)
	if d.left >= 0 {
		d.left -= int64(n)
	}
	return b
}

// align skips the zeros that a padding format writes before an array.
func (d *decoder) align() {
	pad := padding(d.pos)
	if pad == 0 || d.err != nil {
		return
	}
	b := d.read(pad)
	for _, c := range b {
		if c != 0 {
			d.err = corrupt("padding byte %#x", c)
			return
		}
	}
}

// fill returns the next n ≤ chunkBytes bytes of the stream, unchecked:
// from the lender in place when it has them in one piece, else gathered
// into d.buf.
func (d *decoder) fill(n int) []byte {
	if d.mem != nil {
		if int64(len(d.mem))-d.pos < int64(n) {
			d.err = io.ErrUnexpectedEOF
			return nil
		}
		return d.mem[d.pos : d.pos+int64(n) : d.pos+int64(n)]
	}
	if d.lend == nil {
		b := d.buf[:n]
		if _, err := io.ReadFull(d.r, b); err != nil {
			d.err = err
			return nil
		}
		return b
	}
	b, err := d.lend.Next(n)
	if len(b) == n && err == nil {
		return b
	}
	got := copy(d.buf[:n], b)
	for got < n && err == nil {
		if b, err = d.lend.Next(n - got); len(b) == 0 && err == nil {
			err = io.ErrNoProgress
		}
		got += copy(d.buf[got:n], b)
	}
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
		return nil
	}
	return d.buf[:n]
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

// The array readers decode whole chunks with one loop per chunk into
// the array itself: allocated at full size when the stream is known to
// hold it, grown chunk by chunk otherwise.

func (d *decoder) float32s(n int) []float32 {
	if s, ok := viewOf[float32](d, n); ok {
		return s
	}
	s := make([]float32, 0, d.alloc(n, 4))
	for len(s) < n && d.err == nil {
		k := min(n-len(s), chunkBytes/4)
		b := d.read(4 * k)
		if b == nil {
			break
		}
		s = slices.Grow(s, k)
		dst := s[len(s) : len(s)+k]
		getFloat32s(dst, b)
		s = s[:len(s)+k]
	}
	return s
}

func (d *decoder) uint32s(n int) []uint32 {
	if s, ok := viewOf[uint32](d, n); ok {
		return s
	}
	s := make([]uint32, 0, d.alloc(n, 4))
	for len(s) < n && d.err == nil {
		k := min(n-len(s), chunkBytes/4)
		b := d.read(4 * k)
		if b == nil {
			break
		}
		s = slices.Grow(s, k)
		dst := s[len(s) : len(s)+k]
		getUint32s(dst, b)
		s = s[:len(s)+k]
	}
	return s
}

func (d *decoder) uint64s(n int) []uint64 {
	if s, ok := viewOf[uint64](d, n); ok {
		return s
	}
	s := make([]uint64, 0, d.alloc(n, 8))
	for len(s) < n && d.err == nil {
		k := min(n-len(s), chunkBytes/8)
		b := d.read(8 * k)
		if b == nil {
			break
		}
		s = slices.Grow(s, k)
		dst := s[len(s) : len(s)+k]
		getUint64s(dst, b)
		s = s[:len(s)+k]
	}
	return s
}

// viewOf returns the next n numbers as a view of the decoder's memory
// instead of a copy, when there is one (newMemDecoder), the CPU is
// little-endian and the array lies aligned for its type (HNSW version 3
// pads each to 64 bytes; older streams may be by chance). The view's
// capacity is its length: an append moves it to the Go heap rather than
// writing past it into the next array. Its bytes are checksummed like
// any other, which reads them all once.
func viewOf[T float32 | uint32 | uint64](d *decoder, n int) ([]T, bool) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if d.mem == nil || d.err != nil || n == 0 || !littleEndian() {
		return nil, false
	}
	if int64(n)*int64(size) > int64(len(d.mem))-d.pos {
		d.err = io.ErrUnexpectedEOF
		return nil, true
	}
	if uintptr(unsafe.Pointer(&d.mem[d.pos]))%uintptr(size) != 0 {
		return nil, false // the stream does not start aligned in memory
	}
	b := d.read(n * size)
	d.inPlace = true
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n), true
}

// getFloat32s, getUint32s and getUint64s decode little-endian b into dst,
// four at a time: the slices of four let the compiler drop the bounds
// checks, twice as fast as one element per iteration on 100k vectors.
func getFloat32s(dst []float32, b []byte) {
	b = b[:4*len(dst)]
	if littleEndian() {
		copy(asBytes(dst), b)
		return
	}
	for len(dst) >= 4 {
		d, c := dst[:4:4], b[:16:16]
		d[0] = math.Float32frombits(binary.LittleEndian.Uint32(c[0:]))
		d[1] = math.Float32frombits(binary.LittleEndian.Uint32(c[4:]))
		d[2] = math.Float32frombits(binary.LittleEndian.Uint32(c[8:]))
		d[3] = math.Float32frombits(binary.LittleEndian.Uint32(c[12:]))
		dst, b = dst[4:], b[16:]
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

func getUint32s(dst []uint32, b []byte) {
	b = b[:4*len(dst)]
	if littleEndian() {
		copy(asBytes(dst), b)
		return
	}
	for len(dst) >= 4 {
		d, c := dst[:4:4], b[:16:16]
		d[0] = binary.LittleEndian.Uint32(c[0:])
		d[1] = binary.LittleEndian.Uint32(c[4:])
		d[2] = binary.LittleEndian.Uint32(c[8:])
		d[3] = binary.LittleEndian.Uint32(c[12:])
		dst, b = dst[4:], b[16:]
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
}

func getUint64s(dst []uint64, b []byte) {
	b = b[:8*len(dst)]
	if littleEndian() {
		copy(asBytes(dst), b)
		return
	}
	for len(dst) >= 4 {
		d, c := dst[:4:4], b[:32:32]
		d[0] = binary.LittleEndian.Uint64(c[0:])
		d[1] = binary.LittleEndian.Uint64(c[8:])
		d[2] = binary.LittleEndian.Uint64(c[16:])
		d[3] = binary.LittleEndian.Uint64(c[24:])
		dst, b = dst[4:], b[32:]
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
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
	b := d.fill(4)
	if b == nil {
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
	case errors.Is(d.err, ErrCorrupt):
		return d.err
	default:
		return fmt.Errorf("read index: %w", d.err)
	}
}

// corrupt formats a validation failure.
func corrupt(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrCorrupt)...)
}

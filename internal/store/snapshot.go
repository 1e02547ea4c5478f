package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	bolt "go.etcd.io/bbolt"
)

// An index snapshot lives in the snapshot bucket: a "chunks" sub-bucket of
// big-endian sequence numbers → at most chunkSize bytes each, and an
// "info" key (snapshotCodec, items version, total size, CRC-32C; 21 bytes)
// written last. A snapshot without info is incomplete and ignored.
const (
	chunkSize = 1 << 20
	// snapshotTxBytes bounds one write transaction of SaveIndex, so a
	// snapshot of gigabytes does not sit in memory as dirty pages.
	snapshotTxBytes = 64 << 20
	snapshotCodec   = 1
)

var (
	bucketChunks = []byte("chunks")
	keyInfo      = []byte("info")
)

type snapshotInfo struct {
	version uint64
	size    uint64
	crc     uint32
}

func readSnapshotInfo(tx *bolt.Tx) (snapshotInfo, bool, error) {
	sb := tx.Bucket(bucketSnapshot)
	if sb == nil {
		return snapshotInfo{}, false, nil
	}
	v := sb.Get(keyInfo)
	if v == nil {
		return snapshotInfo{}, false, nil
	}
	if len(v) != 21 || v[0] != snapshotCodec {
		return snapshotInfo{}, false, fmt.Errorf("%w: snapshot info of %d bytes, codec %d", ErrCorrupt, len(v), v[0])
	}
	return snapshotInfo{
		version: binary.BigEndian.Uint64(v[1:]),
		size:    binary.BigEndian.Uint64(v[9:]),
		crc:     binary.BigEndian.Uint32(v[17:]),
	}, true, nil
}

func (s snapshotInfo) encode() []byte {
	b := []byte{snapshotCodec}
	b = binary.BigEndian.AppendUint64(b, s.version)
	b = binary.BigEndian.AppendUint64(b, s.size)
	return binary.BigEndian.AppendUint32(b, s.crc)
}

func newCRC() hash.Hash32 { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

// SaveIndex replaces the index snapshot with what write writes, recorded
// as taken at items version (Meta.ItemsVersion when the index was built).
// It commits every 64 MiB, so snapshots larger than memory are fine; the
// new snapshot becomes visible only when complete, and until then
// LoadIndex finds none. write must not write to the database itself.
func (db *DB) SaveIndex(version uint64, write func(w io.Writer) error) error {
	if err := db.saveIndex(version, write); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	return nil
}

func (db *DB) saveIndex(version uint64, write func(w io.Writer) error) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	// Hold the file open across the transactions: Release must not close
	// it between two chunks.
	b, err := db.acquire()
	if err != nil {
		return err
	}
	defer db.done()
	err = db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSnapshot) != nil {
			if err := tx.DeleteBucket(bucketSnapshot); err != nil {
				return err
			}
		}
		sb, err := tx.CreateBucket(bucketSnapshot)
		if err != nil {
			return err
		}
		_, err = sb.CreateBucket(bucketChunks)
		return err
	})
	if err != nil {
		return err
	}
	w := &snapshotWriter{db: db, bolt: b, crc: newCRC()}
	defer func() {
		w.rollback()
		if err != nil {
			// Drop the chunks already committed; the next save would too.
			_ = db.update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketSnapshot) })
		}
	}()
	if err := write(w); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	return guard(func() error {
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.begin(); err != nil {
			return err
		}
		info := snapshotInfo{version: version, size: w.size, crc: w.crc.Sum32()}
		if err := w.tx.Bucket(bucketSnapshot).Put(keyInfo, info.encode()); err != nil {
			return err
		}
		err := w.tx.Commit()
		w.tx = nil
		return err
	})
}

// snapshotWriter cuts what it is given into chunks and stores them in
// write transactions of up to snapshotTxBytes.
type snapshotWriter struct {
	db      *DB
	bolt    *bolt.DB // held open by saveIndex
	tx      *bolt.Tx // open write transaction, or nil
	txBytes int
	buf     []byte // the chunk being filled
	seq     uint64 // key of the next chunk
	size    uint64
	crc     hash.Hash32
	err     error // first failure; later writes return it
}

func (w *snapshotWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.err = guard(func() error {
		for len(p) > 0 {
			if w.buf == nil {
				w.buf = make([]byte, 0, chunkSize) // bbolt keeps it until commit
			}
			k := copy(w.buf[len(w.buf):cap(w.buf)], p)
			w.buf = w.buf[:len(w.buf)+k]
			p = p[k:]
			if len(w.buf) == cap(w.buf) {
				if err := w.flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if w.err != nil {
		return 0, w.err
	}
	return n, nil
}

// flush stores the chunk being filled, committing when the transaction
// has grown to snapshotTxBytes.
func (w *snapshotWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	chunks := w.tx.Bucket(bucketSnapshot).Bucket(bucketChunks)
	chunks.FillPercent = 1.0
	if err := chunks.Put(idKey(w.seq), w.buf); err != nil {
		return err
	}
	w.crc.Write(w.buf)
	w.seq++
	w.size += uint64(len(w.buf))
	w.txBytes += len(w.buf)
	w.buf = nil
	if w.txBytes < w.db.snapshotTxBytes {
		return nil
	}
	err := w.tx.Commit()
	w.tx = nil
	return err
}

func (w *snapshotWriter) begin() error {
	if w.tx != nil {
		return nil
	}
	tx, err := w.bolt.Begin(true)
	if err != nil {
		return err
	}
	if tx.Bucket(bucketSnapshot) == nil || tx.Bucket(bucketSnapshot).Get(keyInfo) != nil {
		_ = tx.Rollback()
		return errors.New("snapshot replaced while being written")
	}
	w.tx, w.txBytes = tx, 0
	return nil
}

func (w *snapshotWriter) rollback() {
	if w.tx != nil {
		_ = w.tx.Rollback()
		w.tx = nil
	}
}

// LoadIndex calls read with the stored index snapshot and returns the
// items version it was taken at, and whether that is the current one (a
// stale snapshot may still serve as a start to bring up to date). With no
// snapshot it returns (0, false, nil) without calling read. The reader
// fails with ErrCorrupt instead of io.EOF when the snapshot's size or
// checksum is wrong. read runs inside a read transaction, so it must not
// write to the database.
func (db *DB) LoadIndex(read func(r io.Reader) error) (version uint64, ok bool, err error) {
	err = db.with(func(b *bolt.DB) error {
		return b.View(func(tx *bolt.Tx) error {
			var info snapshotInfo
			var exists bool
			var current uint64
			var chunks *bolt.Bucket
			err := guard(func() error {
				var err error
				if info, exists, err = readSnapshotInfo(tx); err != nil || !exists {
					return err
				}
				current = getUint(tx.Bucket(bucketMeta), keyItemsVersion)
				if chunks = tx.Bucket(bucketSnapshot).Bucket(bucketChunks); chunks == nil {
					return fmt.Errorf("%w: snapshot has no chunks bucket", ErrCorrupt)
				}
				return nil
			})
			if err != nil || !exists {
				return err
			}
			var limit uint64
			if err := guard(func() error {
				limit = min(info.size, uint64(chunks.Stats().KeyN)*chunkSize)
				return nil
			}); err != nil {
				return err
			}
			if err := read(&snapshotReader{c: chunks.Cursor(), info: info, limit: limit, crc: newCRC()}); err != nil {
				return err
			}
			version, ok = info.version, info.version == current
			return nil
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("load index: %w", err)
	}
	return version, ok, nil
}

// snapshotReader reads the chunks in order and checks their total size
// and checksum at the end.
type snapshotReader struct {
	c     *bolt.Cursor
	info  snapshotInfo
	limit uint64 // the recorded size, capped by what the chunks can hold
	crc   hash.Hash32
	cur   []byte // rest of the current chunk, in the mmap
	seq   uint64
	size  uint64
	err   error
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	b, err := r.Next(len(p))
	return copy(p, b), err // out of the mmap, into the caller's buffer
}

// Next lends up to n of the next bytes where they lie in the database's
// memory map, so that index.Load decodes them from there instead of from
// a copy. They are valid until the next call and only inside LoadIndex's
// read function. Next reads every byte it lends (for the checksum) inside
// the fault guard, so a damaged page fails here as ErrCorrupt, not later
// in the caller. At the end it returns io.EOF, or ErrCorrupt when the
// size or checksum is wrong.
func (r *snapshotReader) Next(n int) ([]byte, error) {
	if r.err != nil || n <= 0 {
		return nil, r.err
	}
	var b []byte
	r.err = guard(func() error {
		for len(r.cur) == 0 {
			var k, v []byte
			if r.seq == 0 {
				k, v = r.c.First()
			} else {
				k, v = r.c.Next()
			}
			if k == nil {
				return r.finish()
			}
			if v == nil || len(k) != 8 || binary.BigEndian.Uint64(k) != r.seq {
				return fmt.Errorf("%w: snapshot chunk %x out of sequence at %d", ErrCorrupt, k, r.seq)
			}
			r.seq++
			r.cur = v
		}
		b = r.cur[:min(n, len(r.cur))]
		r.cur = r.cur[len(b):]
		r.crc.Write(b)
		r.size += uint64(len(b))
		if r.size > r.info.size {
			return fmt.Errorf("%w: snapshot longer than its recorded %d bytes", ErrCorrupt, r.info.size)
		}
		return nil
	})
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

// Len is how many bytes are left to read, so that a decoder can allocate
// its arrays once instead of growing them (a 100k-photo index is 200 MB).
// It never exceeds what the stored chunks can hold, however large the
// recorded size claims to be.
func (r *snapshotReader) Len() int {
	if r.size >= r.limit {
		return 0
	}
	return int(r.limit - r.size)
}

func (r *snapshotReader) finish() error {
	if r.size != r.info.size {
		return fmt.Errorf("%w: snapshot is %d bytes, recorded as %d", ErrCorrupt, r.size, r.info.size)
	}
	if sum := r.crc.Sum32(); sum != r.info.crc {
		return fmt.Errorf("%w: snapshot checksum %08x, recorded as %08x", ErrCorrupt, sum, r.info.crc)
	}
	return io.EOF
}

package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// The index file beside the database (its path + ".hnsw") holds a second
// copy of the index snapshot, one that the index maps instead of reading
// (index.HNSW.LoadFile): a fresh process then loads a 100k-photo index
// without copying its 209 MiB out of bbolt into new memory. It only speeds
// things up: the snapshot in the database stays the one that counts, and
// a file that is missing, stale or another database's is ignored.
//
// The file is a 64-byte header (indexFileMagic, then the record below,
// then zeros) and the snapshot's bytes, so that an array the snapshot
// aligns to 64 bytes lies aligned in the file and in its memory map. The
// same record (indexFileCodec, a random nonce, items version, snapshot
// size, CRC-32C; 37 bytes) is kept under keyIndexFile in the snapshot
// bucket, so that a new SaveIndex, which drops that bucket, also disowns
// the file. The file is only ever replaced by renaming a new one over it:
// a process may have the old one mapped, and a file truncated under a
// mapping faults.
const (
	indexFileSuffix = ".hnsw"
	indexFileMagic  = "SSIXFILE"
	indexFileHeader = 64
	indexFileCodec  = 1
	indexFileRecord = 37
)

var keyIndexFile = []byte("file")

type indexFileInfo struct {
	nonce   [16]byte // tells this database's file from another's
	version uint64
	size    uint64
	crc     uint32
}

func (f indexFileInfo) encode() []byte {
	b := append([]byte{indexFileCodec}, f.nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, f.version)
	b = binary.BigEndian.AppendUint64(b, f.size)
	return binary.BigEndian.AppendUint32(b, f.crc)
}

func decodeIndexFileInfo(v []byte) (indexFileInfo, error) {
	var f indexFileInfo
	if len(v) != indexFileRecord || v[0] != indexFileCodec {
		return f, fmt.Errorf("%w: index file record of %d bytes", ErrCorrupt, len(v))
	}
	copy(f.nonce[:], v[1:17])
	f.version = binary.BigEndian.Uint64(v[17:])
	f.size = binary.BigEndian.Uint64(v[25:])
	f.crc = binary.BigEndian.Uint32(v[33:])
	return f, nil
}

// IndexFilePath is the index file that SaveIndexFile writes beside the
// database.
func (db *DB) IndexFilePath() string { return db.path + indexFileSuffix }

// SaveIndexFile writes what write writes to the index file, recorded as
// taken at items version: into a temporary file beside it, synced, renamed
// over the old one, then recorded in the database. Until the record is
// committed, LoadIndexFile ignores the file. write must not write to the
// database itself.
func (db *DB) SaveIndexFile(version uint64, write func(w io.Writer) error) error {
	if err := db.saveIndexFile(version, write); err != nil {
		return fmt.Errorf("save index file: %w", err)
	}
	return nil
}

func (db *DB) saveIndexFile(version uint64, write func(w io.Writer) error) (err error) {
	if db.readOnly {
		return ErrReadOnly
	}
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	path := db.IndexFilePath()
	// A run killed while writing leaves its temporary file, as large as
	// the index. Only a writer gets here and a writer holds the database
	// alone, so none of them is still being written.
	if left, err := filepath.Glob(path + ".*.tmp"); err == nil {
		for _, l := range left {
			_ = os.Remove(l)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(make([]byte, indexFileHeader)); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(tmp, chunkSize)
	cw := &countingWriter{w: bw, crc: newCRC()}
	if err := write(cw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	info := indexFileInfo{version: version, size: cw.n, crc: cw.crc.Sum32()}
	if _, err := rand.Read(info.nonce[:]); err != nil {
		return err
	}
	header := make([]byte, indexFileHeader)
	copy(header, indexFileMagic)
	copy(header[len(indexFileMagic):], info.encode())
	if _, err := tmp.WriteAt(header, 0); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		sb, err := tx.CreateBucketIfNotExists(bucketSnapshot)
		if err != nil {
			return err
		}
		return sb.Put(keyIndexFile, info.encode())
	})
}

// countingWriter passes writes on, counting and checksumming them.
type countingWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += uint64(n)
	return n, err
}

// LoadIndexFile calls load with the index file open and the offset of the
// snapshot in it, when the database records that file as holding the
// index at the current items version, and reports whether it did. It
// returns false without calling load when there is no file, when the
// record is of an older items version or missing (a SaveIndex since, or a
// file never recorded) and when the file on disk is not the recorded one
// (replaced, or another database's): LoadIndex then reads the snapshot in
// the database. A recorded file of the wrong size, and load's own error
// (the index's checksum catches a damaged byte), are errors, with
// ErrCorrupt for the former; the database itself is unaffected. load must
// check what it reads and may keep f's contents mapped after it returns
// (f itself is closed).
func (db *DB) LoadIndexFile(load func(f *os.File, off int64) error) (bool, error) {
	ok, err := db.loadIndexFile(load)
	if err != nil {
		return false, fmt.Errorf("load index file %s: %w", db.IndexFilePath(), err)
	}
	return ok, nil
}

func (db *DB) loadIndexFile(load func(f *os.File, off int64) error) (bool, error) {
	var rec []byte
	var current uint64
	err := db.view(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSnapshot)
		if sb == nil {
			return nil
		}
		rec = bytes.Clone(sb.Get(keyIndexFile))
		current = getUint(tx.Bucket(bucketMeta), keyItemsVersion)
		return nil
	})
	if err != nil || rec == nil {
		return false, err
	}
	info, err := decodeIndexFileInfo(rec)
	if err != nil {
		return false, err
	}
	if info.version != current {
		return false, nil
	}
	f, err := os.Open(db.IndexFilePath())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	header := make([]byte, indexFileHeader)
	if _, err := io.ReadFull(f, header); err != nil {
		return false, nil // not the file recorded, whose header is whole
	}
	if string(header[:len(indexFileMagic)]) != indexFileMagic ||
		!bytes.Equal(header[len(indexFileMagic):len(indexFileMagic)+indexFileRecord], rec) {
		return false, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if want := indexFileHeader + int64(info.size); fi.Size() != want {
		return false, fmt.Errorf("%w: file is %d bytes, its record says %d", ErrCorrupt, fi.Size(), want)
	}
	if err := load(f, indexFileHeader); err != nil {
		return false, err
	}
	return true, nil
}

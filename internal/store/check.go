package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// maxProblems bounds Check's report; a badly damaged file would otherwise
// list every record.
const maxProblems = 1000

// Check verifies the database: bbolt's own page checks, then that every
// item has a vector and every vector an item, that the path index and the
// items agree both ways, that vectors have the recorded dimensions and
// that a stored index snapshot is whole. It returns the problems found, in
// plain words, or none; the error is for a check that could not run. It
// reads every page, so it takes a while on a large database.
func (db *DB) Check() ([]string, error) {
	c := &checker{}
	err := db.inspect(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			c.foreign(tx)
			return nil
		}
		// Our own walk goes first and under guard: it touches every page
		// of every bucket, so a page pointer that leads out of the file
		// faults here, where it is caught, rather than in the goroutine
		// that bbolt's check runs in, where it would kill the process.
		if err := guard(func() error { c.ours(tx); return nil }); err != nil {
			c.add("the file is damaged and could not be read through: %v", err)
			return nil
		}
		for err := range tx.Check() {
			c.add("bbolt: %v", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", db.path, err)
	}
	if c.more > 0 {
		c.problems = append(c.problems, fmt.Sprintf("... and %d more problems", c.more))
	}
	return c.problems, nil
}

// foreign reports the buckets of a database that was never set up, which
// is fine when there are none.
func (c *checker) foreign(tx *bolt.Tx) {
	if err := checkForeign(tx); err != nil {
		c.add("%v", err)
	}
}

func (c *checker) ours(tx *bolt.Tx) {
	for _, name := range [][]byte{bucketItems, bucketVectors, bucketPaths, bucketFailures} {
		if tx.Bucket(name) == nil {
			c.add("bucket %q is missing", name)
		}
	}
	if len(c.problems) > 0 {
		return
	}
	c.meta(tx)
	c.itemsAndVectors(tx)
	c.paths(tx)
	c.failures(tx)
	c.decisions(tx)
	c.snapshot(tx)
}

// errRollback ends inspect's write transaction without a commit.
var errRollback = errors.New("rollback")

// inspect runs fn in a transaction that keeps writers out: bbolt's check
// reads the free list, which a concurrent writer would change under it.
// A read-only database has no writers; otherwise take the writer's lock
// with a write transaction that is rolled back.
func (db *DB) inspect(fn func(*bolt.Tx) error) error {
	if db.readOnly {
		return db.view(fn)
	}
	err := db.update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

type checker struct {
	problems []string
	more     int
}

func (c *checker) add(format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	} else {
		c.more++
	}
}

// itemsAndVectors walks both buckets side by side (both sorted by id), so
// it needs no memory per item.
func (c *checker) itemsAndVectors(tx *bolt.Tx) {
	dims := int(getUint(tx.Bucket(bucketMeta), keyDims))
	items, vectors := tx.Bucket(bucketItems), tx.Bucket(bucketVectors)
	paths := tx.Bucket(bucketPaths)
	ic, vc := items.Cursor(), vectors.Cursor()
	ik, iv := ic.First()
	vk, vv := vc.First()
	var maxID uint64
	for ik != nil || vk != nil {
		switch cmp := compareKeys(ik, vk); {
		case cmp < 0:
			c.add("item %s has no vector", keyName(ik))
			c.item(paths, ik, iv, &maxID)
			ik, iv = ic.Next()
		case cmp > 0:
			c.add("vector %s has no item", keyName(vk))
			vk, vv = vc.Next()
		default:
			c.item(paths, ik, iv, &maxID)
			switch {
			case vv == nil:
				c.add("vector %s is a bucket, not a vector", keyName(vk))
			case dims == 0:
				c.add("vector %s is stored but the database records no dimensions", keyName(vk))
			case len(vv) != 4*dims:
				c.add("vector %s is %d bytes long, %d dimensions need %d", keyName(vk), len(vv), dims, 4*dims)
			}
			ik, iv = ic.Next()
			vk, vv = vc.Next()
		}
	}
	if seq := items.Sequence(); seq < maxID {
		c.add("the id sequence is at %d, below the highest item id %d, so new items would overwrite old ones", seq, maxID)
	}
}

// item checks one item record and its path entry.
func (c *checker) item(paths *bolt.Bucket, k, v []byte, maxID *uint64) {
	if len(k) != 8 {
		c.add("item key %x is not an id", k)
		return
	}
	id := binary.BigEndian.Uint64(k)
	*maxID = max(*maxID, id)
	if v == nil {
		c.add("item %d is a bucket, not a record", id)
		return
	}
	it, err := decodeItem(v)
	if err != nil {
		c.add("item %d cannot be decoded: %v", id, err)
		return
	}
	switch p := paths.Get([]byte(it.Path)); {
	case p == nil:
		c.add("item %d (%s) is missing from the path index", id, it.Path)
	case !bytes.Equal(p, k):
		c.add("item %d (%s) is indexed under item %s", id, it.Path, keyName(p))
	}
}

// meta checks the schema version and that numbers are numbers.
func (c *checker) meta(tx *bolt.Tx) {
	mb := tx.Bucket(bucketMeta)
	for _, k := range [][]byte{keySchema, keyDims, keyItemsVersion} {
		if v := mb.Get(k); v != nil && len(v) != 8 {
			c.add("meta %s is %d bytes long, not a number", k, len(v))
		}
	}
	if v := getUint(mb, keySchema); v == 0 || v > SchemaVersion {
		c.add("schema version is %d, this simsearch knows 1 to %d", v, SchemaVersion)
	}
}

// failures checks that every failure record decodes.
func (c *checker) failures(tx *bolt.Tx) {
	_ = tx.Bucket(bucketFailures).ForEach(func(k, v []byte) error {
		if _, _, err := decodeFailure(v); err != nil {
			c.add("failure of %s cannot be decoded: %v", k, err)
		}
		return nil
	})
}

// paths checks that every path entry points to an item with that path.
func (c *checker) paths(tx *bolt.Tx) {
	items := tx.Bucket(bucketItems)
	_ = tx.Bucket(bucketPaths).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			c.add("path %s maps to %d bytes, not an id", k, len(v))
			return nil
		}
		iv := items.Get(v)
		if iv == nil {
			c.add("path %s points to item %s, which does not exist", k, keyName(v))
			return nil
		}
		if it, err := decodeItem(iv); err == nil && it.Path != string(k) {
			c.add("path %s points to item %s, whose path is %s", k, keyName(v), it.Path)
		}
		return nil
	})
}

// snapshot reads a stored index snapshot through, checking its size and
// checksum.
func (c *checker) snapshot(tx *bolt.Tx) {
	info, ok, err := readSnapshotInfo(tx)
	if err != nil {
		c.add("index snapshot: %v", err)
		return
	}
	if !ok {
		return
	}
	chunks := tx.Bucket(bucketSnapshot).Bucket(bucketChunks)
	if chunks == nil {
		c.add("index snapshot has no chunks")
		return
	}
	r := &snapshotReader{c: chunks.Cursor(), info: info, crc: newCRC()}
	if _, err := io.Copy(io.Discard, r); err != nil {
		c.add("index snapshot: %v", err)
	}
}

func compareKeys(a, b []byte) int {
	switch {
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

func keyName(k []byte) string {
	if len(k) == 8 {
		return fmt.Sprint(binary.BigEndian.Uint64(k))
	}
	return fmt.Sprintf("%x", k)
}

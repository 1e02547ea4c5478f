package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/internal/quote"
)

// maxProblems bounds Check's report; a badly damaged file would otherwise
// list every record.
const maxProblems = 1000

// unitTolerance is how far from 1 the length of a stored vector may be
// under CheckOptions.UnitVectors: float32 rounding of a normalised 512-d
// vector stays within 1e-6, damage to any but the lowest bits of a
// component goes far past 1e-3.
const unitTolerance = 1e-3

// CheckOptions say what Check, RepairInPlace and Salvage hold the records
// to beyond the structure every database has. A nil *CheckOptions holds
// them to the structure alone.
type CheckOptions struct {
	// UnitVectors says that vectors are stored L2-normalised, so one whose
	// length is not 1 (within 1e-3) was damaged on disk: bbolt keeps no
	// checksums, and nothing else tells damaged floats from data.
	UnitVectors bool
}

// ProblemKind says what repairs a problem.
type ProblemKind uint8

const (
	// BadSnapshot is an index snapshot that cannot be read: RepairInPlace
	// drops it, and the index is rebuilt from the vectors.
	BadSnapshot ProblemKind = iota + 1
	// BadRecord is a record that does not decode, breaks a rule of
	// CheckOptions or disagrees with another (an item and its path entry,
	// an item and its vector): RepairInPlace drops it, with the item it
	// belongs to, which the next index run embeds again.
	BadRecord
	// Damaged is damage to bbolt's pages or to the buckets and meta data
	// every database has: only a salvage (SalvageInPlace) helps.
	Damaged
)

// Problem is one thing Check found wrong.
type Problem struct {
	Kind ProblemKind
	Path string // the path of the item concerned, when it is known
	Text string // in plain words, paths quoted by quote.Path
}

func (p Problem) String() string { return p.Text }

// Check verifies the database: bbolt's own page checks, then that every
// item has a vector and every vector an item, that the path index and the
// items agree both ways, that vectors have the recorded dimensions (and,
// with opts.UnitVectors, unit length) and that a stored index snapshot is
// whole. It returns the problems found, or none; the error is for a check
// that could not run. It reads every page, so it takes a while on a large
// database.
func (db *DB) Check(opts *CheckOptions) ([]Problem, error) {
	c := newChecker(opts)
	if err := db.inspect(func(tx *bolt.Tx) error { c.run(tx); return nil }); err != nil {
		return nil, fmt.Errorf("check %s: %w", db.path, err)
	}
	return c.report(), nil
}

// RepairReport says what RepairInPlace dropped.
type RepairReport struct {
	Items    []uint64 // items dropped with their vectors and path entries
	Records  int      // records of no item dropped: vectors, path entries, failures
	Snapshot bool     // the index snapshot could not be read and is dropped
	Sequence uint64   // the id sequence was raised to this, when it lagged
}

// RepairInPlace drops, in one transaction, every record that Check
// reports as BadRecord together with the item it belongs to, and a
// snapshot it reports as BadSnapshot, and raises a lagging id sequence;
// Check then finds nothing. Where Check would find the file Damaged it
// changes nothing and returns an error wrapping ErrCorrupt: that takes
// SalvageInPlace.
func (db *DB) RepairInPlace(opts *CheckOptions) (RepairReport, error) {
	var rep RepairReport
	err := db.update(func(tx *bolt.Tx) error {
		c := newChecker(opts)
		c.run(tx)
		if i := slices.IndexFunc(c.problems, func(p Problem) bool { return p.Kind == Damaged }); i >= 0 {
			return fmt.Errorf("%w: %s", ErrCorrupt, c.problems[i].Text)
		}
		if c.worst == Damaged {
			return fmt.Errorf("%w: more than %d problems", ErrCorrupt, maxProblems)
		}
		var err error
		rep, err = c.repair(tx)
		return err
	})
	if err != nil {
		return RepairReport{}, fmt.Errorf("repair %s: %w", db.path, err)
	}
	return rep, nil
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

// checker walks a transaction, noting the problems it finds and what
// RepairInPlace would drop to mend them.
type checker struct {
	opts     CheckOptions
	problems []Problem
	more     int
	worst    ProblemKind // of every problem, listed or not
	dims     int

	items    map[uint64]bool // items to drop, with their vectors and path entries
	stray    []record        // records of no item to drop
	snapshot bool            // drop the snapshot
	sequence uint64          // raise the sequence to this, when not 0
}

// record names a key of a bucket.
type record struct{ bucket, key []byte }

func newChecker(opts *CheckOptions) *checker {
	c := &checker{items: map[uint64]bool{}}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

func (c *checker) add(kind ProblemKind, path, format string, args ...any) {
	c.worst = max(c.worst, kind)
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, Problem{Kind: kind, Path: path, Text: fmt.Sprintf(format, args...)})
	} else {
		c.more++
	}
}

// report is the problems found, the last of them counting those past
// maxProblems (its kind is the worst of all, so that it asks for the
// repair they need).
func (c *checker) report() []Problem {
	if c.more > 0 {
		return append(c.problems, Problem{Kind: c.worst, Text: fmt.Sprintf("... and %d more problems", c.more)})
	}
	return c.problems
}

func (c *checker) run(tx *bolt.Tx) {
	if tx.Bucket(bucketMeta) == nil {
		if err := checkForeign(tx); err != nil {
			c.add(Damaged, "", "%v", err)
		}
		return
	}
	// Our own walk goes first and under guard: it touches every page of
	// every bucket, so a page pointer that leads out of the file faults
	// here, where it is caught, rather than in the goroutine that bbolt's
	// check runs in, where it would kill the process.
	if err := guard(func() error { c.ours(tx); return nil }); err != nil {
		c.add(Damaged, "", "the file is damaged and could not be read through: %v", err)
		return
	}
	for err := range tx.Check() {
		c.add(Damaged, "", "bbolt: %v", err)
	}
}

func (c *checker) ours(tx *bolt.Tx) {
	missing := false
	for _, name := range [][]byte{bucketItems, bucketVectors, bucketPaths, bucketFailures} {
		if tx.Bucket(name) == nil {
			c.add(Damaged, "", "bucket %q is missing", name)
			missing = true
		}
	}
	if missing {
		return
	}
	c.meta(tx)
	c.itemsAndVectors(tx)
	c.paths(tx)
	c.failures(tx)
	c.decisions(tx)
	c.snapshotOf(tx)
}

// itemsAndVectors walks the items, looking up each one's vector, then the
// vectors, looking up each one's item. Lookups need no memory per item,
// and unlike a walk of both buckets side by side they are not thrown by a
// damaged key out of order, which would make every item after it seem to
// lack a vector.
func (c *checker) itemsAndVectors(tx *bolt.Tx) {
	c.dims = int(getUint(tx.Bucket(bucketMeta), keyDims))
	items, vectors := tx.Bucket(bucketItems), tx.Bucket(bucketVectors)
	paths := tx.Bucket(bucketPaths)
	var maxID uint64
	ic := items.Cursor()
	for k, v := ic.First(); k != nil; k, v = ic.Next() {
		id, path, ok := c.item(paths, k, v)
		if !ok {
			continue
		}
		maxID = max(maxID, id)
		if vv := vectors.Get(k); vv != nil {
			c.vector(id, path, vv)
		} else if vectors.Bucket(k) != nil {
			c.add(Damaged, path, "vector %d is a bucket, not a vector", id)
		} else {
			c.dropItem(id, path, "item %d has no vector", id)
		}
	}
	vc := vectors.Cursor()
	for k, _ := vc.First(); k != nil; k, _ = vc.Next() {
		if items.Get(k) == nil && items.Bucket(k) == nil {
			c.add(BadRecord, "", "vector %s has no item", keyName(k))
			c.stray = append(c.stray, record{bucketVectors, bytes.Clone(k)})
		} else if len(k) != 8 {
			c.stray = append(c.stray, record{bucketVectors, bytes.Clone(k)}) // its item's key is reported
		}
	}
	if seq := items.Sequence(); seq < maxID {
		c.add(BadRecord, "", "the id sequence is at %d, below the highest item id %d, so new items would overwrite old ones", seq, maxID)
		c.sequence = maxID
	}
}

// item checks one item record and its path entry, marking the item to be
// dropped when either is wrong. ok is false for a key that is not an id.
func (c *checker) item(paths *bolt.Bucket, k, v []byte) (id uint64, path string, ok bool) {
	if len(k) != 8 {
		c.add(BadRecord, "", "item key %x is not an id", k)
		c.stray = append(c.stray, record{bucketItems, bytes.Clone(k)})
		return 0, "", false
	}
	id = binary.BigEndian.Uint64(k)
	if v == nil {
		c.add(Damaged, "", "item %d is a bucket, not a record", id)
		return id, "", true
	}
	it, err := decodeItem(v)
	if err != nil {
		c.dropItem(id, "", "item %d cannot be decoded: %v", id, err)
		return id, "", true
	}
	switch p := paths.Get([]byte(it.Path)); {
	case p == nil:
		c.dropItem(id, it.Path, "item %d (%s) is missing from the path index", id, quote.Path(it.Path))
	case !bytes.Equal(p, k):
		c.dropItem(id, it.Path, "item %d (%s) is indexed under item %s", id, quote.Path(it.Path), keyName(p))
	}
	return id, it.Path, true
}

// vector checks the vector of item id.
func (c *checker) vector(id uint64, path string, v []byte) {
	switch {
	case c.dims == 0:
		c.add(Damaged, path, "vector %d is stored but the database records no dimensions", id)
	case len(v) != 4*c.dims:
		c.dropItem(id, path, "vector %d is %d bytes long, %d dimensions need %d", id, len(v), c.dims, 4*c.dims)
	case c.opts.UnitVectors:
		if n, ok := unitLength(v); !ok {
			c.dropItem(id, path, "vector %d%s is damaged: its length is %.6g, not 1", id, ofPath(path), n)
		}
	}
}

// dropItem reports a problem that takes item id (with its vector and path
// entries) out.
func (c *checker) dropItem(id uint64, path, format string, args ...any) {
	c.add(BadRecord, path, format, args...)
	c.items[id] = true
}

// ofPath names the item's file after a vector, when it is known.
func ofPath(path string) string {
	if path == "" {
		return ""
	}
	return " (of " + quote.Path(path) + ")"
}

// unitLength returns the length of the raw vector b and whether it is 1
// within unitTolerance (NaN and infinities are not).
func unitLength(b []byte) (float64, bool) {
	var ss float64
	for i := 0; i+4 <= len(b); i += 4 {
		x := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		ss += x * x
	}
	n := math.Sqrt(ss)
	return n, math.Abs(n-1) <= unitTolerance
}

// meta checks the schema version and that numbers are numbers.
func (c *checker) meta(tx *bolt.Tx) {
	mb := tx.Bucket(bucketMeta)
	for _, k := range [][]byte{keySchema, keyDims, keyItemsVersion} {
		if v := mb.Get(k); v != nil && len(v) != 8 {
			c.add(Damaged, "", "meta %s is %d bytes long, not a number", k, len(v))
		}
	}
	if v := getUint(mb, keySchema); v == 0 || v > SchemaVersion {
		c.add(Damaged, "", "schema version is %d, this simsearch knows 1 to %d", v, SchemaVersion)
	}
}

// failures checks that every failure record decodes.
func (c *checker) failures(tx *bolt.Tx) {
	_ = tx.Bucket(bucketFailures).ForEach(func(k, v []byte) error {
		if v == nil {
			c.add(Damaged, "", "failure of %s is a bucket, not a record", quote.Path(string(k)))
			return nil
		}
		if _, _, err := decodeFailure(v); err != nil {
			c.add(BadRecord, "", "failure of %s cannot be decoded: %v", quote.Path(string(k)), err)
			c.stray = append(c.stray, record{bucketFailures, bytes.Clone(k)})
		}
		return nil
	})
}

// paths checks that every path entry points to an item with that path.
// It runs after itemsAndVectors, so it also drops the entries that lead
// to items dropped there whose record does not say their path.
func (c *checker) paths(tx *bolt.Tx) {
	items := tx.Bucket(bucketItems)
	_ = tx.Bucket(bucketPaths).ForEach(func(k, v []byte) error {
		path := string(k)
		drop := func() { c.stray = append(c.stray, record{bucketPaths, bytes.Clone(k)}) }
		switch {
		case v == nil:
			c.add(Damaged, path, "path %s is a bucket, not an id", quote.Path(path))
			return nil
		case len(v) != 8:
			c.add(BadRecord, path, "path %s maps to %d bytes, not an id", quote.Path(path), len(v))
			drop()
			return nil
		}
		iv := items.Get(v)
		if iv == nil {
			c.add(BadRecord, path, "path %s points to item %s, which does not exist", quote.Path(path), keyName(v))
			drop()
			return nil
		}
		it, err := decodeItem(iv)
		switch {
		case err != nil:
			drop() // the item is dropped, and its record cannot say this is its entry
		case it.Path != path:
			c.add(BadRecord, path, "path %s points to item %s, whose path is %s", quote.Path(path), keyName(v), quote.Path(it.Path))
			drop()
		}
		return nil
	})
}

// snapshotOf reads a stored index snapshot through, checking its size and
// checksum.
func (c *checker) snapshotOf(tx *bolt.Tx) {
	info, ok, err := readSnapshotInfo(tx)
	if err != nil {
		c.add(BadSnapshot, "", "index snapshot: %v", err)
		c.snapshot = true
		return
	}
	if !ok {
		return
	}
	chunks := tx.Bucket(bucketSnapshot).Bucket(bucketChunks)
	if chunks == nil {
		c.add(BadSnapshot, "", "index snapshot has no chunks")
		c.snapshot = true
		return
	}
	r := &snapshotReader{c: chunks.Cursor(), info: info, crc: newCRC()}
	if _, err := io.Copy(io.Discard, r); err != nil {
		c.add(BadSnapshot, "", "index snapshot: %v", err)
		c.snapshot = true
	}
}

// repair drops what the walk marked, in tx.
func (c *checker) repair(tx *bolt.Tx) (RepairReport, error) {
	var rep RepairReport
	ids := make([]uint64, 0, len(c.items))
	for id := range c.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := deleteID(tx, id); err != nil {
			return rep, err
		}
	}
	rep.Items = ids
	for _, r := range c.stray {
		b := tx.Bucket(r.bucket)
		if b.Get(r.key) == nil {
			continue // gone with an item
		}
		if err := b.Delete(r.key); err != nil {
			return rep, err
		}
		rep.Records++
	}
	if c.snapshot {
		if err := tx.DeleteBucket(bucketSnapshot); err != nil {
			return rep, err
		}
		rep.Snapshot = true
	}
	if c.sequence > 0 {
		if err := tx.Bucket(bucketItems).SetSequence(c.sequence); err != nil {
			return rep, err
		}
		rep.Sequence = c.sequence
	}
	if len(rep.Items) > 0 || rep.Records > 0 {
		return rep, bumpVersion(tx.Bucket(bucketMeta))
	}
	return rep, nil
}

func keyName(k []byte) string {
	if len(k) == 8 {
		return fmt.Sprint(binary.BigEndian.Uint64(k))
	}
	return fmt.Sprintf("%x", k)
}

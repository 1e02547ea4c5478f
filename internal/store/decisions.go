package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDecisions holds the user's dedup decisions: id → encoded
// Decision. It is made by the first AddDecision, so a database that never
// had one has no such bucket, and binaries older than it never look at it:
// adding it needs no new schema version.
var bucketDecisions = []byte("decisions")

// decisionCodec is the first byte of an encoded Decision.
const decisionCodec = 1

// DecisionKind says what a Decision records. Kinds this package does not
// know (written by a newer simsearch) are kept and read back as they are.
type DecisionKind uint8

const (
	// NotDuplicates says the files are not copies of each other.
	NotDuplicates DecisionKind = 1
	// KeepAll says the files may be copies but are all to be kept.
	KeepAll DecisionKind = 2
)

// DecisionFile is one file a decision names: its content hash, which is
// what the decision holds to (renames and moves keep it), and its path
// when the decision was made, for people.
type DecisionFile struct {
	Hash Hash
	Path string
}

// Decision is a verdict on a set of files, recorded by content.
type Decision struct {
	ID    uint64 // assigned by AddDecision; ignored on input
	Kind  DecisionKind
	Time  time.Time
	Files []DecisionFile // at least two; AddDecision sorts them by hash, then path
}

// ErrBadDecision is returned by AddDecision for a decision that names
// fewer than two files.
var ErrBadDecision = errors.New("a decision names at least two files")

// AddDecision records d and returns its id, which is never given again.
// It sorts d.Files; a zero Time means now.
func (db *DB) AddDecision(d Decision) (uint64, error) {
	if len(d.Files) < 2 {
		return 0, fmt.Errorf("record decision: %w", ErrBadDecision)
	}
	d.Files = slices.Clone(d.Files)
	sortDecisionFiles(d.Files)
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	var id uint64
	err := db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDecisions)
		if err != nil {
			return err
		}
		if id, err = b.NextSequence(); err != nil {
			return err
		}
		return b.Put(idKey(id), appendDecision(nil, d))
	})
	if err != nil {
		return 0, fmt.Errorf("record decision: %w", err)
	}
	return id, nil
}

// Decisions returns every recorded decision in id order. A record that
// does not decode is ErrCorrupt: dropping it silently could offer for
// deletion a file the user said to keep (Check reports it, Salvage leaves
// it behind).
func (db *DB) Decisions() ([]Decision, error) {
	var out []Decision
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			d, err := decodeDecisionRecord(k, v)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	return out, nil
}

// DeleteDecision removes the decision id and reports whether there was one.
func (db *DB) DeleteDecision(id uint64) (bool, error) {
	found := false
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions)
		if b == nil || b.Get(idKey(id)) == nil {
			return nil
		}
		found = true
		return b.Delete(idKey(id))
	})
	if err != nil {
		return false, fmt.Errorf("forget decision %d: %w", id, err)
	}
	return found, nil
}

func sortDecisionFiles(fs []DecisionFile) { slices.SortFunc(fs, compareDecisionFiles) }

// compareDecisionFiles orders files by hash, then path.
func compareDecisionFiles(a, b DecisionFile) int {
	if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

// appendDecision appends the encoding of d, without its ID (the key):
//
//	codec byte, kind byte, varint time (unix ns), uvarint file count,
//	then per file: 32-byte hash, uvarint len + path
func appendDecision(dst []byte, d Decision) []byte {
	dst = append(dst, decisionCodec, byte(d.Kind))
	dst = binary.AppendVarint(dst, d.Time.UnixNano())
	dst = binary.AppendUvarint(dst, uint64(len(d.Files)))
	for _, f := range d.Files {
		dst = append(dst, f.Hash[:]...)
		dst = binary.AppendUvarint(dst, uint64(len(f.Path)))
		dst = append(dst, f.Path...)
	}
	return dst
}

// decodeDecision decodes what appendDecision wrote. It copies what it
// keeps and rejects garbage: fewer than two files, files out of order (a
// record written by AddDecision is sorted), stray bytes.
func decodeDecision(b []byte) (Decision, error) {
	var d Decision
	dec := decoder{b: b}
	if c := dec.byte(); dec.err == nil && c != decisionCodec {
		return d, fmt.Errorf("unknown decision codec %d", c)
	}
	d.Kind = DecisionKind(dec.byte())
	d.Time = time.Unix(0, dec.varint())
	n := dec.uvarint()
	// Each file takes at least 33 bytes: a count beyond what is left is
	// garbage, and must not size an allocation.
	if dec.err == nil && n > uint64(len(dec.b)/33) {
		return Decision{}, errShort
	}
	if dec.err == nil && n < 2 {
		return Decision{}, fmt.Errorf("names %d files, a decision needs two", n)
	}
	d.Files = make([]DecisionFile, 0, n)
	for i := uint64(0); i < n && dec.err == nil; i++ {
		var f DecisionFile
		copy(f.Hash[:], dec.bytes(len(f.Hash)))
		f.Path = dec.string()
		d.Files = append(d.Files, f)
	}
	if dec.err != nil {
		return Decision{}, dec.err
	}
	if len(dec.b) > 0 {
		return Decision{}, fmt.Errorf("%d stray bytes after decision", len(dec.b))
	}
	if !slices.IsSortedFunc(d.Files, compareDecisionFiles) {
		return Decision{}, errors.New("files out of order")
	}
	return d, nil
}

// decodeDecisionRecord decodes a key and value of the decisions bucket.
func decodeDecisionRecord(k, v []byte) (Decision, error) {
	if len(k) != 8 {
		return Decision{}, fmt.Errorf("decision key %x is not an id", k)
	}
	id := binary.BigEndian.Uint64(k)
	if v == nil {
		return Decision{}, fmt.Errorf("decision %d is a bucket, not a record", id)
	}
	d, err := decodeDecision(v)
	if err != nil {
		return Decision{}, fmt.Errorf("decision %d cannot be decoded: %w", id, err)
	}
	d.ID = id
	return d, nil
}

// decisions checks that every decision record decodes; the bucket is
// optional.
func (c *checker) decisions(tx *bolt.Tx) {
	b := tx.Bucket(bucketDecisions)
	if b == nil {
		return
	}
	var maxID uint64
	_ = b.ForEach(func(k, v []byte) error {
		if _, err := decodeDecisionRecord(k, v); err != nil {
			c.add(BadRecord, "", "%v", err)
			c.stray = append(c.stray, record{bucketDecisions, bytes.Clone(k)})
		}
		if len(k) == 8 {
			maxID = max(maxID, binary.BigEndian.Uint64(k))
		}
		return nil
	})
	if seq := b.Sequence(); seq < maxID {
		c.add(Damaged, "", "the decision id sequence is at %d, below the highest decision id %d", seq, maxID)
	}
}

// copyDecisions copies every decision of from that decodes into to,
// under the same ids, for Salvage; the others are counted as lost.
func copyDecisions(from, to *DB, rep *SalvageReport) error {
	var keep []Decision
	var maxID uint64
	err := from.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions)
		if b == nil {
			return nil
		}
		maxID = b.Sequence()
		return b.ForEach(func(k, v []byte) error {
			d, err := decodeDecisionRecord(k, v)
			if err != nil {
				rep.lose(BadRecord, "", "%v", err)
				return nil
			}
			keep = append(keep, d)
			return nil
		})
	})
	if err != nil {
		// A damaged page under the decisions: say so and keep the items.
		rep.lose(Damaged, "", "decisions could not all be read (%v); %d copied", err, len(keep))
	}
	if len(keep) == 0 && maxID == 0 {
		return nil
	}
	return to.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDecisions)
		if err != nil {
			return err
		}
		for _, d := range keep {
			if err := b.Put(idKey(d.ID), appendDecision(nil, d)); err != nil {
				return err
			}
			maxID = max(maxID, d.ID)
		}
		// Ids of lost decisions are not given again either.
		return b.SetSequence(maxID)
	})
}

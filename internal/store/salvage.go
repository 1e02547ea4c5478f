package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/internal/quote"
)

// SalvageReport says what Salvage copied and what it could not.
type SalvageReport struct {
	Items    int       // items copied with their vectors
	Lost     int       // items, or runs of ids, that were not copied
	Problems []Problem // why each was not, in plain words
	Kept     string    // SalvageInPlace: where the damaged file now is
}

// lose records an item or a run of them that is not copied.
func (r *SalvageReport) lose(kind ProblemKind, path, format string, args ...any) {
	r.Lost++
	switch {
	case len(r.Problems) < maxProblems:
		r.Problems = append(r.Problems, Problem{Kind: kind, Path: path, Text: fmt.Sprintf(format, args...)})
	case len(r.Problems) == maxProblems:
		r.Problems = append(r.Problems, Problem{Kind: kind, Text: "... and more items lost"})
	}
}

// SalvageInPlace salvages the database at path (see Salvage) and puts the
// copy in its place, keeping the damaged file beside it as
// path.damaged-<time>. It holds the writer lock throughout, waiting up to
// timeout for it as Open does. The copy has no index snapshot: the next
// Open of the engine builds one.
func SalvageInPlace(path string, timeout time.Duration, opts *CheckOptions) (SalvageReport, error) {
	if timeout == 0 {
		timeout = defaultTimeout
	}
	w, err := lockWriter(path, timeout)
	if err != nil {
		return SalvageReport{}, fmt.Errorf("salvage %s: %w", path, err)
	}
	defer unlockWriter(w)
	return salvageInPlace(path, opts)
}

// SalvageInPlace is the package function for a database this DB holds open
// for writing: it lets go of the file, keeps the writer lock, and the
// calls after it see the salvaged copy.
func (db *DB) SalvageInPlace(opts *CheckOptions) (SalvageReport, error) {
	if db.readOnly {
		return SalvageReport{}, ErrReadOnly
	}
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.users > 0 {
		return SalvageReport{}, errors.New("salvage: database in use by another call")
	}
	if db.bolt != nil {
		if err := db.bolt.Close(); err != nil {
			return SalvageReport{}, fmt.Errorf("salvage %s: %w", db.path, err)
		}
		db.bolt = nil
	}
	return salvageInPlace(db.path, opts)
}

func salvageInPlace(path string, opts *CheckOptions) (SalvageReport, error) {
	tmp := path + ".salvage"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return SalvageReport{}, err
	}
	rep, err := Salvage(path, tmp, opts)
	if err != nil {
		return rep, err
	}
	rep.Kept = keepName(path)
	if err := os.Rename(path, rep.Kept); err != nil {
		return rep, fmt.Errorf("salvage %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("salvage %s: %w (the damaged file is %s, the salvaged copy %s)", path, err, rep.Kept, tmp)
	}
	syncDir(path)
	return rep, nil
}

// keepName is a name for the damaged file at path that no earlier salvage
// has taken: two within a second must not keep only the second file.
func keepName(path string) string {
	name := path + ".damaged-" + time.Now().Format("20060102-150405")
	for i, try := 1, name; ; i++ {
		if _, err := os.Lstat(try); err != nil {
			return try // free, or the rename says why not
		}
		try = fmt.Sprintf("%s.%d", name, i)
	}
}

// Salvage copies every item of the database at src that passes Check's
// rules into a new database at dst, which must not exist, skipping
// damaged records and pages instead of stopping at the first. An item is
// copied only when its record decodes, the path index names it under its
// path, and its vector has the database's dimensions (and, with
// opts.UnitVectors, unit length): a copy of a damaged record would pass
// every later check, and an item left out is embedded again by the next
// index run. src is opened read-only and never written. Items keep their
// paths, hashes and sizes but get new ids; the index snapshot and the
// list of skipped files are not copied (the first is rebuilt from the
// vectors, the second by the next index run). The dedup decisions that
// decode are copied under their ids.
func Salvage(src, dst string, opts *CheckOptions) (SalvageReport, error) {
	var rep SalvageReport
	if _, err := os.Lstat(dst); err == nil {
		return rep, fmt.Errorf("salvage %s: %s exists", src, dst)
	}
	// The free list is not needed for reading, and a damaged one must
	// not keep the rest from being read.
	from, err := Open(src, &Options{ReadOnly: true, noFreelist: true})
	if err != nil {
		return rep, fmt.Errorf("salvage %s: %w", src, err)
	}
	defer from.Close()
	m, err := from.Meta()
	if err != nil {
		return rep, fmt.Errorf("salvage %s: %w", src, err)
	}
	to, err := Open(dst, &Options{Fingerprint: m.Fingerprint, ModelName: m.ModelName, Dims: m.Dims})
	if err != nil {
		return rep, fmt.Errorf("salvage into %s: %w", dst, err)
	}
	var batch []Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := to.Put(batch); err != nil {
			return err
		}
		rep.Items += len(batch)
		batch = batch[:0]
		return nil
	}
	s := salvager{dims: m.Dims, rep: &rep}
	if opts != nil {
		s.opts = *opts
	}
	err = from.salvageRecords(&s, func(r Record) error {
		batch = append(batch, r)
		if len(batch) == readBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = copyDecisions(from, to, &rep)
	}
	if cerr := to.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		_ = os.Remove(dst + ".lock")
		return rep, fmt.Errorf("salvage %s: %w", src, err)
	}
	_ = os.Remove(dst + ".lock")
	return rep, nil
}

// salvager judges the items Salvage reads.
type salvager struct {
	opts CheckOptions
	dims int
	rep  *SalvageReport
}

// salvageRecords calls fn with every item that s lets through, with its
// vector, in id order. A page that cannot be read ends the read
// transaction; the walk goes on from the first id past the damage, found
// by seeking to ever larger ids (1, 2, 4, ... past the failure) until one
// lands beyond it, and then halving the distance back: a seek fails for
// every id the damaged page covers and succeeds from the first id on the
// page after it, so only the damaged page's items are lost.
func (db *DB) salvageRecords(s *salvager, fn func(Record) error) error {
	var maxID uint64
	if err := db.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketItems); b != nil {
			maxID = b.Sequence()
		}
		return nil
	}); err != nil {
		return err
	}
	for next := uint64(1); next <= maxID; {
		var recs []Record
		// resume is the first id not yet handled: where the walk failed,
		// when it does.
		resume := next
		err := db.view(func(tx *bolt.Tx) error {
			items, vecs, paths, err := salvageBuckets(tx)
			if err != nil {
				return err
			}
			c := items.Cursor()
			for k, v := c.Seek(idKey(next)); k != nil; k, v = c.Next() {
				if len(k) != 8 {
					s.rep.lose(BadRecord, "", "item key %x is not an id", k)
					continue
				}
				id := binary.BigEndian.Uint64(k)
				if id < resume || id > maxID {
					// A key out of order or beyond the sequence: damage.
					s.rep.lose(BadRecord, "", "item key %x is out of place", k)
					continue
				}
				if r, ok := s.item(id, v, vecs, paths); ok {
					recs = append(recs, r)
				}
				resume = id + 1
			}
			return nil
		})
		for _, r := range recs {
			if ferr := fn(r); ferr != nil {
				return ferr
			}
		}
		if err == nil {
			return nil // reached the end
		}
		if resume > maxID {
			s.rep.lose(Damaged, "", "the items past id %d could not be read (%v)", maxID, err)
			return nil
		}
		next = db.pastDamage(resume, maxID)
		if resume == next-1 {
			s.rep.lose(Damaged, "", "item %d could not be read (%v)", resume, err)
		} else {
			s.rep.lose(Damaged, "", "items %d to %d could not be read (%v)", resume, min(next-1, maxID), err)
		}
	}
	return nil
}

func salvageBuckets(tx *bolt.Tx) (items, vecs, paths *bolt.Bucket, err error) {
	items, vecs, paths = tx.Bucket(bucketItems), tx.Bucket(bucketVectors), tx.Bucket(bucketPaths)
	if items == nil || vecs == nil || paths == nil {
		return nil, nil, nil, fmt.Errorf("%w: the items, vectors or paths bucket is missing", ErrCorrupt)
	}
	return items, vecs, paths, nil
}

// pastDamage returns the first id after failed from which the items can
// be read again, or maxID+1.
func (db *DB) pastDamage(failed, maxID uint64) uint64 {
	readable := func(id uint64) bool {
		return db.view(func(tx *bolt.Tx) error {
			items, _, _, err := salvageBuckets(tx)
			if err == nil {
				items.Cursor().Seek(idKey(id))
			}
			return err
		}) == nil
	}
	bad, step := failed, uint64(1)
	good := maxID + 1
	for bad+step <= maxID {
		if readable(bad + step) {
			good = bad + step
			break
		}
		bad += step
		step *= 2
	}
	for good-bad > 1 {
		if mid := bad + (good-bad)/2; readable(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	return good
}

// item returns item id (record v) with its vector, or false when it may
// not be copied, saying why in the report. A lookup that meets a damaged
// page loses this item only: a read transaction changes nothing, so it
// goes on after the panic.
func (s *salvager) item(id uint64, v []byte, vecs, paths *bolt.Bucket) (Record, bool) {
	it, err := decodeItem(v)
	if err == nil && it.Path == "" {
		err = errors.New("empty path")
	}
	if err != nil {
		s.rep.lose(BadRecord, "", "item %d: record does not decode: %v", id, err)
		return Record{}, false
	}
	key := idKey(id)
	var entry, raw []byte
	if err := guard(func() error {
		entry, raw = bytes.Clone(paths.Get([]byte(it.Path))), bytes.Clone(vecs.Get(key))
		return nil
	}); err != nil {
		s.rep.lose(BadRecord, it.Path, "%s: its path entry or vector could not be read (%v)", quote.Path(it.Path), err)
		return Record{}, false
	}
	switch {
	case !bytes.Equal(entry, key):
		s.rep.lose(BadRecord, it.Path, "%s: the path index does not name item %d under its path", quote.Path(it.Path), id)
		return Record{}, false
	case raw == nil || len(raw) != 4*s.dims:
		s.rep.lose(BadRecord, it.Path, "%s: vector missing or of the wrong size", quote.Path(it.Path))
		return Record{}, false
	}
	if s.opts.UnitVectors {
		if n, ok := unitLength(raw); !ok {
			s.rep.lose(BadRecord, it.Path, "%s: vector damaged (its length is %.6g, not 1)", quote.Path(it.Path), n)
			return Record{}, false
		}
	}
	vec := make([]float32, s.dims)
	decodeVector(vec, raw)
	return Record{Item: it, Vector: vec}, true
}

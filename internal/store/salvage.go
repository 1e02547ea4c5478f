package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SalvageReport says what Salvage copied and what it could not read.
type SalvageReport struct {
	Items    int      // items copied with their vectors
	Lost     int      // items, or runs of them, that could not be read
	Problems []string // what was damaged, in plain words
	Kept     string   // SalvageInPlace: where the damaged file now is
}

// SalvageInPlace salvages the database at path (see Salvage) and puts the
// copy in its place, keeping the damaged file beside it as
// path.damaged-<time>. It holds the writer lock throughout, waiting up to
// timeout for it as Open does. The copy has no index snapshot: the next
// Open of the engine builds one.
func SalvageInPlace(path string, timeout time.Duration) (SalvageReport, error) {
	if timeout == 0 {
		timeout = defaultTimeout
	}
	w, err := lockWriter(path, timeout)
	if err != nil {
		return SalvageReport{}, fmt.Errorf("salvage %s: %w", path, err)
	}
	defer unlockWriter(w)
	return salvageInPlace(path)
}

// SalvageInPlace is the package function for a database this DB holds open
// for writing: it lets go of the file, keeps the writer lock, and the
// calls after it see the salvaged copy.
func (db *DB) SalvageInPlace() (SalvageReport, error) {
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
	return salvageInPlace(db.path)
}

func salvageInPlace(path string) (SalvageReport, error) {
	tmp := path + ".salvage"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return SalvageReport{}, err
	}
	rep, err := Salvage(path, tmp)
	if err != nil {
		return rep, err
	}
	rep.Kept = path + ".damaged-" + time.Now().Format("20060102-150405")
	if err := os.Rename(path, rep.Kept); err != nil {
		return rep, fmt.Errorf("salvage %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("salvage %s: %w (the damaged file is %s, the salvaged copy %s)", path, err, rep.Kept, tmp)
	}
	syncDir(path)
	return rep, nil
}

// Salvage copies every item of the database at src whose record and
// vector can still be read into a new database at dst, which must not
// exist, skipping damaged records and pages instead of stopping at the
// first. src is opened read-only and never written. Items keep their
// paths, hashes and sizes but get new ids; the dedup decisions that
// decode are copied under their ids; the index snapshot and the list of
// skipped files are not copied (the first is rebuilt from the vectors, the
// second by the next index run).
func Salvage(src, dst string) (SalvageReport, error) {
	var rep SalvageReport
	if _, err := os.Lstat(dst); err == nil {
		return rep, fmt.Errorf("salvage %s: %s exists", src, dst)
	}
	from, err := Open(src, &Options{ReadOnly: true})
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
	err = from.salvageRecords(m.Dims, &rep, func(r Record) error {
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

// salvageRecords calls fn with every readable item and its vector in id
// order. A record that does not decode is skipped; a page that cannot be
// read ends the read transaction, and the walk goes on past it by seeking
// to ever larger ids (1, 2, 4, ... past the last good one) until one
// lands beyond the damage or past the last id ever given.
func (db *DB) salvageRecords(dims int, rep *SalvageReport, fn func(Record) error) error {
	var maxID uint64
	if err := db.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketItems); b != nil {
			maxID = b.Sequence()
		}
		return nil
	}); err != nil {
		return err
	}
	next, skip := uint64(0), uint64(1)
	for next <= maxID {
		var recs []Record
		last, progressed := next, false
		err := db.view(func(tx *bolt.Tx) error {
			items, vecs := tx.Bucket(bucketItems), tx.Bucket(bucketVectors)
			if items == nil || vecs == nil {
				return fmt.Errorf("%w: items or vectors bucket missing", ErrCorrupt)
			}
			c := items.Cursor()
			for k, v := c.Seek(idKey(next)); k != nil; k, v = c.Next() {
				if len(k) != 8 {
					continue
				}
				id := binary.BigEndian.Uint64(k)
				last, progressed = id, true
				it, err := decodeItem(v)
				if err != nil {
					rep.Lost++
					rep.Problems = append(rep.Problems, fmt.Sprintf("item %d: record does not decode: %v", id, err))
					continue
				}
				raw := vecs.Get(k)
				if raw == nil || len(raw) != 4*dims {
					rep.Lost++
					rep.Problems = append(rep.Problems, fmt.Sprintf("%s: vector missing or of the wrong size", it.Path))
					continue
				}
				vec := make([]float32, dims)
				decodeVector(vec, raw)
				recs = append(recs, Record{Item: it, Vector: vec})
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
		// A damaged page: records from next up to an unknown id are lost.
		from := next
		if progressed {
			from, skip = last+1, 1
		}
		next = from + skip
		skip *= 2
		rep.Lost++
		rep.Problems = append(rep.Problems, fmt.Sprintf("items from id %d on could not be read (%v); resuming at id %d", from, err, next))
	}
	return nil
}

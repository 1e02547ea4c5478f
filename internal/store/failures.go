package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Failure records a file that could not be indexed, and why.
type Failure struct {
	Path   string
	Reason string
	Time   time.Time
}

// PutFailures records, in one transaction, why each path (the map's key)
// could not be indexed, stamped with the current time. A path's earlier
// failure is replaced.
func (db *DB) PutFailures(reasons map[string]string) error {
	if len(reasons) == 0 {
		return nil
	}
	now := time.Now()
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		for path, reason := range reasons {
			v := appendFailure(nil, Failure{Reason: reason, Time: now})
			if err := b.Put([]byte(path), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d failures: %w", len(reasons), err)
	}
	return nil
}

// ClearFailures forgets the failures of paths; unknown paths are skipped.
func (db *DB) ClearFailures(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		for _, p := range paths {
			if err := b.Delete([]byte(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear %d failures: %w", len(paths), err)
	}
	return nil
}

// Failures returns every recorded failure, sorted by path.
func (db *DB) Failures() ([]Failure, error) {
	var out []Failure
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			reason, ns, err := decodeFailure(v)
			if err != nil {
				return fmt.Errorf("%w: failure of %q: %w", ErrCorrupt, k, err)
			}
			out = append(out, Failure{Path: string(k), Reason: reason, Time: time.Unix(0, ns)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read failures: %w", err)
	}
	return out, nil
}

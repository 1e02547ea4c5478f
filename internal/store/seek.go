package store

import (
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// ItemsAfter returns up to limit items with ids above after, in ascending
// id order, read in one transaction from a cursor placed on after: a page
// deep in a large database costs what the first page does. A limit below 1
// returns none; callers bound it (a page of a listing).
func (db *DB) ItemsAfter(after uint64, limit int) ([]Item, error) {
	if limit < 1 || after == math.MaxUint64 {
		return nil, nil
	}
	var page []Item
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(idKey(after + 1)); k != nil && len(page) < limit; k, v = c.Next() {
			it, err := itemAt(k, v)
			if err != nil {
				return err
			}
			page = append(page, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read items after %d: %w", after, err)
	}
	return page, nil
}

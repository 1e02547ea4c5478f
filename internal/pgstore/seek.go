package pgstore

import (
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/internal/store"
)

// ItemsAfter returns up to limit items with ids above after, in ascending
// id order, in one query that starts at after on the primary key: a page
// deep in a large database costs what the first page does. A limit below 1
// returns none.
func (db *DB) ItemsAfter(after uint64, limit int) ([]store.Item, error) {
	if limit < 1 || after >= math.MaxInt64 {
		return nil, nil // ids are bigint: none lies above
	}
	rows, err := db.pool.Query(ctx, "SELECT "+itemColumns+" FROM simsearch.items WHERE id > $1 ORDER BY id LIMIT $2", int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("read items after %d: %w", after, err)
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Item, error) { return scanItem(r) })
	if err != nil {
		return nil, fmt.Errorf("read items after %d: %w", after, err)
	}
	if len(page) == 0 {
		return nil, nil // as the bbolt store answers
	}
	return page, nil
}

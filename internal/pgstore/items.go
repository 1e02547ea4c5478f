package pgstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/internal/store"
)

// readBatch is how many rows ForEachItem and ForEachVector read per
// query before handing them to the callback, as store does.
const readBatch = 1024

// itemColumns are an item's columns in the order scanItem reads them.
const itemColumns = `id, path, size, mtime, hash, width, height, format, state, taken, taken_at, make, model, coalesce(labels::text, '')`

// putColumns are the staging table's columns in the order Put copies them.
var putColumns = []string{"ord", "path", "size", "mtime", "hash", "width", "height", "format", "state", "taken", "taken_at", "make", "model", "labels", "v"}

// Put stores recs in one transaction: all or none. A path not yet stored
// gets a new id; a stored path keeps its id and its item and vector are
// replaced. It returns the ids in the order of recs. Every vector must
// have the database's dimensions (the first Put into an empty database
// sets them) or Put fails with store.ErrDims. A stored failure for a path
// is cleared. The batch is copied (COPY) into a temporary table and
// upserted from there in one statement.
func (db *DB) Put(recs []store.Record) ([]uint64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if db.readOnly {
		return nil, fmt.Errorf("put %d records: %w", len(recs), store.ErrReadOnly)
	}
	for i := range recs {
		if err := validate(&recs[i]); err != nil {
			return nil, fmt.Errorf("put %q: %w", recs[i].Item.Path, err)
		}
	}
	// A path given twice is stored once, with its last record, as store's
	// successive writes to one key leave it.
	last := make(map[string]int, len(recs))
	for i := range recs {
		last[recs[i].Item.Path] = i
	}
	ids := make([]uint64, len(recs))
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		dims, err := db.dims(tx, len(recs[0].Vector))
		if err != nil {
			return err
		}
		rows := make([][]any, 0, len(last))
		for i := range recs {
			r := &recs[i]
			if len(r.Vector) != dims {
				return fmt.Errorf("%q: %w: %d, the database holds %d", r.Item.Path, store.ErrDims, len(r.Vector), dims)
			}
			if last[r.Item.Path] != i {
				continue
			}
			row, err := putRow(i, r)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS simsearch_put (
			ord integer, path bytea, size bigint, mtime bigint, hash bytea, width integer, height integer,
			format text, state smallint, taken bigint, taken_at text, make bytea, model bytea, labels jsonb, v real[]
		) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"simsearch_put"}, putColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		// The new items version, written into the rows: the meta row stays
		// locked to the commit, so versions commit in their order and a
		// reader that sees version v sees every row written at v or
		// before (VectorsSince). Concurrent Puts wait here for each
		// other's upsert; the COPY above runs at once.
		version, err := bumpVersion(tx)
		if err != nil {
			return err
		}
		res, err := tx.Query(ctx, `INSERT INTO simsearch.items AS i
			(path, size, mtime, hash, width, height, format, state, taken, taken_at, make, model, labels, v, version)
			SELECT path, size, mtime, hash, width, height, format, state, taken, taken_at, make, model, labels, v::vector, $1
			FROM simsearch_put ORDER BY ord
			ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, hash = excluded.hash,
				width = excluded.width, height = excluded.height, format = excluded.format, state = excluded.state,
				taken = excluded.taken, taken_at = excluded.taken_at, make = excluded.make, model = excluded.model,
				labels = excluded.labels, v = excluded.v, version = excluded.version
			RETURNING id, path`, version)
		if err != nil {
			return err
		}
		byPath := make(map[string]uint64, len(last))
		var id int64
		var path []byte
		_, err = pgx.ForEachRow(res, []any{&id, &path}, func() error {
			byPath[string(path)] = uint64(id)
			return nil
		})
		if err != nil {
			return err
		}
		for i := range recs {
			ids[i] = byPath[recs[i].Item.Path]
		}
		if _, err := tx.Exec(ctx, "DELETE FROM simsearch.failures WHERE path IN (SELECT path FROM simsearch_put)"); err != nil {
			return err
		}
		// The queued files stored here leave the work queue with it: a
		// file is stored once and, queued, never lost (claims.go).
		_, err = tx.Exec(ctx, `WITH done AS (DELETE FROM simsearch.work WHERE path IN (SELECT path FROM simsearch_put) RETURNING owner)
			UPDATE simsearch.workers SET stored = stored + (SELECT count(*) FROM done WHERE owner = $1) WHERE owner = $1`, db.owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("put %d records: %w", len(recs), err)
	}
	return ids, nil
}

// bumpVersion raises the items version and returns it. Every writer of
// items takes the meta row so, before it touches an item: in one order,
// so that two writers never wait on each other's rows.
func bumpVersion(tx pgx.Tx) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, "UPDATE simsearch.meta SET items_version = items_version + 1 RETURNING items_version").Scan(&v)
	return v, err
}

// dims returns the database's dimensions, recording first (with the
// column's type and the HNSW index) in a database that has none yet.
func (db *DB) dims(tx pgx.Tx, first int) (int, error) {
	var dims int
	if err := tx.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
		return 0, err
	}
	if dims != 0 {
		return dims, nil
	}
	// Lock the row and look again: another writer may have been first.
	if err := tx.QueryRow(ctx, "SELECT dims FROM simsearch.meta FOR UPDATE").Scan(&dims); err != nil {
		return 0, err
	}
	if dims != 0 {
		return dims, nil
	}
	return first, setDims(tx, first)
}

func putRow(ord int, r *store.Record) ([]any, error) {
	it := &r.Item
	var labels any // NULL without labels, as store reads them back: nil
	if len(it.Labels) > 0 {
		b, err := json.Marshal(it.Labels)
		if err != nil {
			return nil, fmt.Errorf("%q: encode labels: %w", it.Path, err)
		}
		labels = b
	}
	return []any{int32(ord), []byte(it.Path), it.Size, it.ModTime, it.Hash[:], int32(it.Width), int32(it.Height),
		it.Format, int16(it.State), it.Taken, it.TakenAt, []byte(it.Make), []byte(it.Model), labels, r.Vector}, nil
}

func validate(r *store.Record) error {
	switch {
	case r.Item.Path == "":
		return errors.New("empty path")
	case len(r.Vector) == 0:
		return fmt.Errorf("%w: no vector", store.ErrDims)
	case r.Item.Width < 0 || r.Item.Width > math.MaxInt32 || r.Item.Height < 0 || r.Item.Height > math.MaxInt32:
		return fmt.Errorf("image size %dx%d out of range", r.Item.Width, r.Item.Height)
	}
	for _, s := range r.Item.Labels {
		for _, l := range s.Top {
			if !(l.Prob >= 0 && l.Prob <= 1) {
				return fmt.Errorf("label %q probability %v out of range", l.ID, l.Prob)
			}
		}
	}
	return nil
}

// Delete removes the items with the given ids and their vectors, in one
// transaction. Unknown ids are skipped.
func (db *DB) Delete(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	if db.readOnly {
		return fmt.Errorf("delete %d items: %w", len(ids), store.ErrReadOnly)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// The meta row first, as Put takes it (bumpVersion), and only
		// when there is something to delete.
		tag, err := tx.Exec(ctx, `UPDATE simsearch.meta SET items_version = items_version + 1
			WHERE EXISTS (SELECT 1 FROM simsearch.items WHERE id = ANY($1))`, int64s(ids))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM simsearch.items WHERE id = ANY($1)", int64s(ids))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %d items: %w", len(ids), err)
	}
	return nil
}

func int64s(ids []uint64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// Item returns the item with the given id, and false if there is none.
func (db *DB) Item(id uint64) (store.Item, bool, error) {
	it, ok, err := db.oneItem("SELECT "+itemColumns+" FROM simsearch.items WHERE id = $1", int64(id))
	if err != nil {
		return store.Item{}, false, fmt.Errorf("read item %d: %w", id, err)
	}
	return it, ok, nil
}

// ItemByPath returns the item stored under path, and false if there is
// none.
func (db *DB) ItemByPath(path string) (store.Item, bool, error) {
	it, ok, err := db.oneItem("SELECT "+itemColumns+" FROM simsearch.items WHERE path = $1", []byte(path))
	if err != nil {
		return store.Item{}, false, fmt.Errorf("read item %q: %w", path, err)
	}
	return it, ok, nil
}

func (db *DB) oneItem(sql string, arg any) (store.Item, bool, error) {
	rows, err := db.pool.Query(ctx, sql, arg)
	if err != nil {
		return store.Item{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return store.Item{}, false, rows.Err()
	}
	it, err := scanItem(rows)
	if err != nil {
		return store.Item{}, false, err
	}
	return it, true, rows.Err()
}

// scanItem reads the row of itemColumns. Every byte is copied: pgx's
// buffers are reused by the next row.
func scanItem(row pgx.Row) (store.Item, error) {
	var it store.Item
	var id int64
	var path, hash, make_, model []byte
	var width, height int32
	var state int16
	var labels string
	if err := row.Scan(&id, &path, &it.Size, &it.ModTime, &hash, &width, &height, &it.Format, &state,
		&it.Taken, &it.TakenAt, &make_, &model, &labels); err != nil {
		return store.Item{}, err
	}
	it.ID, it.Path, it.Width, it.Height, it.State = uint64(id), string(path), int(width), int(height), store.State(state)
	it.Make, it.Model = string(make_), string(model)
	if len(hash) != len(it.Hash) {
		return store.Item{}, fmt.Errorf("%w: item %d: hash of %d bytes", store.ErrCorrupt, id, len(hash))
	}
	copy(it.Hash[:], hash)
	if labels != "" {
		if err := json.Unmarshal([]byte(labels), &it.Labels); err != nil {
			return store.Item{}, fmt.Errorf("%w: item %d: labels: %w", store.ErrCorrupt, id, err)
		}
		if len(it.Labels) == 0 {
			it.Labels = nil
		}
	}
	return it, nil
}

// Vector returns the vector of item id, or an error wrapping
// store.ErrNotFound.
func (db *DB) Vector(id uint64) ([]float32, error) {
	var v []float32
	err := db.pool.QueryRow(ctx, "SELECT v::real[] FROM simsearch.items WHERE id = $1", int64(id)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read vector %d: %w", id, err)
	}
	return v, nil
}

// ForEachItem calls fn for every item in ascending id order, stopping at
// and returning fn's first error. Items are read in batches and fn runs
// between the queries, so it may write to the database.
func (db *DB) ForEachItem(fn func(store.Item) error) error {
	var after int64
	for {
		rows, err := db.pool.Query(ctx, "SELECT "+itemColumns+" FROM simsearch.items WHERE id > $1 ORDER BY id LIMIT $2", after, readBatch)
		if err != nil {
			return fmt.Errorf("read items: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Item, error) { return scanItem(r) })
		if err != nil {
			return fmt.Errorf("read items: %w", err)
		}
		for _, it := range batch {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(batch) < readBatch {
			return nil
		}
		after = int64(batch[len(batch)-1].ID)
	}
}

// ForEachVector calls fn for every vector in ascending id order, as
// ForEachItem does for items. Each v is fn's to keep.
func (db *DB) ForEachVector(fn func(id uint64, v []float32) error) error {
	return db.vectorPages("read vectors", "", nil, fn)
}

// vectorPages calls fn for the vectors of the items that also match cond
// (SQL beginning with AND; its parameters, args, are $3 on), in ascending
// id order, reading readBatch rows at a time. A read fails as what: …;
// fn's own error comes back as it is.
func (db *DB) vectorPages(what, cond string, args []any, fn func(id uint64, v []float32) error) error {
	type entry struct {
		id  int64
		vec []float32
	}
	query := "SELECT id, v::real[] FROM simsearch.items WHERE id > $1 " + cond + " ORDER BY id LIMIT $2"
	var after int64
	for {
		rows, err := db.pool.Query(ctx, query, append([]any{after, readBatch}, args...)...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (entry, error) {
			var e entry
			err := r.Scan(&e.id, &e.vec)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for _, e := range batch {
			if err := fn(uint64(e.id), e.vec); err != nil {
				return err
			}
		}
		if len(batch) < readBatch {
			return nil
		}
		after = batch[len(batch)-1].id
	}
}

// SetLabels gives each item in sets the label set sets[id], replacing the
// set of the same source it has, in one transaction; vectors and the
// items version stay. Unknown ids are skipped; it returns how many items
// were changed.
func (db *DB) SetLabels(sets map[uint64]store.LabelSet) (int, error) {
	if len(sets) == 0 {
		return 0, nil
	}
	if db.readOnly {
		return 0, fmt.Errorf("set labels of %d items: %w", len(sets), store.ErrReadOnly)
	}
	ids := make([]uint64, 0, len(sets))
	for id := range sets {
		ids = append(ids, id)
	}
	n := 0
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, coalesce(labels::text, '') FROM simsearch.items WHERE id = ANY($1) ORDER BY id FOR UPDATE", int64s(ids))
		if err != nil {
			return err
		}
		type row struct {
			id     int64
			labels []store.LabelSet
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			var text string
			if err := r.Scan(&x.id, &text); err != nil {
				return x, err
			}
			if text != "" {
				if err := json.Unmarshal([]byte(text), &x.labels); err != nil {
					return x, fmt.Errorf("%w: item %d: labels: %w", store.ErrCorrupt, x.id, err)
				}
			}
			return x, nil
		})
		if err != nil {
			return err
		}
		var b pgx.Batch
		for _, x := range found {
			s := sets[uint64(x.id)]
			replaced := false
			for i := range x.labels {
				if x.labels[i].Source == s.Source {
					x.labels[i], replaced = s, true
				}
			}
			if !replaced {
				x.labels = append(x.labels, s)
			}
			enc, err := json.Marshal(x.labels)
			if err != nil {
				return err
			}
			b.Queue("UPDATE simsearch.items SET labels = $2 WHERE id = $1", x.id, enc)
		}
		n = len(found)
		if n == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("set labels of %d items: %w", len(sets), err)
	}
	return n, nil
}

// VectorsSince calls fn for every vector a Put wrote after items version
// since (and perhaps some it wrote at since), in ascending id order, as
// ForEachVector does; with ForEachID, which names what is still stored,
// an index covering since catches up on what changed without reading the
// other vectors. Put holds the meta row from the version it writes to
// its commit, so once Meta shows version v every row written at v or
// before is visible.
func (db *DB) VectorsSince(since uint64, fn func(id uint64, v []float32) error) error {
	return db.vectorPages(fmt.Sprintf("read vectors since version %d", since), "AND version > $3", []any{int64(since)}, fn)
}

// ForEachID calls fn with the id of every stored item, in ascending
// order, reading nothing else.
func (db *DB) ForEachID(fn func(id uint64) error) error {
	var after int64
	for {
		rows, err := db.pool.Query(ctx, "SELECT id FROM simsearch.items WHERE id > $1 ORDER BY id LIMIT $2", after, 16*readBatch)
		if err != nil {
			return fmt.Errorf("read ids: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("read ids: %w", err)
		}
		for _, id := range ids {
			if err := fn(uint64(id)); err != nil {
				return err
			}
		}
		if len(ids) < 16*readBatch {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

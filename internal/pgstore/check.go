package pgstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/internal/quote"
	"github.com/simsearch/simsearch/internal/store"
)

// maxProblems bounds Check's report, as store's does.
const maxProblems = 1000

// unitTolerance is how far from 1 a vector's length may be under
// CheckOptions.UnitVectors (store's figure).
const unitTolerance = 1e-3

// checker collects problems and what a repair drops.
type checker struct {
	problems  []store.Problem
	more      int
	items     []uint64 // items to drop
	decisions []int64  // decision rows to drop
	snapshot  bool     // drop the snapshot
	index     bool     // the HNSW index is missing or invalid
}

func (c *checker) add(kind store.ProblemKind, path, format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, store.Problem{Kind: kind, Path: path, Text: fmt.Sprintf(format, args...)})
	} else {
		c.more++
	}
}

func (c *checker) report() []store.Problem {
	if c.more > 0 {
		return append(c.problems, store.Problem{Kind: store.BadRecord, Text: fmt.Sprintf("... and %d more problems", c.more)})
	}
	return c.problems
}

// Check verifies what can go wrong in the tables through simsearch
// rather than in PostgreSQL's pages (which the server checks itself):
// vectors of other dimensions than recorded or, with opts.UnitVectors,
// not of unit length; item hashes and labels and decisions that do not
// decode; a snapshot with chunks missing or of the wrong size; the HNSW
// index missing or left invalid by an interrupted build (Damaged: only
// SalvageInPlace, which rebuilds it, helps). The error is for a check
// that could not run.
func (db *DB) Check(opts *store.CheckOptions) ([]store.Problem, error) {
	var c checker
	if err := db.inspect(&c, opts); err != nil {
		return nil, fmt.Errorf("check %s: %w", db.name, err)
	}
	return c.report(), nil
}

func (db *DB) inspect(c *checker, opts *store.CheckOptions) error {
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var dims int
		if err := tx.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
			return err
		}
		unit := opts != nil && opts.UnitVectors
		rows, err := tx.Query(ctx, `SELECT id, path, vector_dims(v), vector_norm(v), octet_length(hash), coalesce(labels::text, '')
			FROM simsearch.items
			WHERE vector_dims(v) <> $1 OR ($2 AND abs(vector_norm(v) - 1) > $3) OR octet_length(hash) <> 32 OR labels IS NOT NULL
			ORDER BY id`, dims, unit, unitTolerance)
		if err != nil {
			return err
		}
		type row struct {
			id         int64
			path       []byte
			vdims      int
			norm       float64
			hashLen    int
			labelsText string
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.path, &x.vdims, &x.norm, &x.hashLen, &x.labelsText)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, x := range found {
			path := string(x.path)
			bad := func(format string, args ...any) {
				c.add(store.BadRecord, path, "item %d (%s): %s", x.id, quote.Path(path), fmt.Sprintf(format, args...))
				c.items = append(c.items, uint64(x.id))
			}
			switch {
			case dims != 0 && x.vdims != dims:
				bad("its vector has %d dimensions, the database holds %d", x.vdims, dims)
			case unit && (x.norm < 1-unitTolerance || x.norm > 1+unitTolerance):
				bad("its vector is of length %.6f, not 1", x.norm)
			case x.hashLen != 32:
				bad("its content hash is %d bytes long", x.hashLen)
			case x.labelsText != "":
				if err := checkLabels(x.labelsText); err != nil {
					bad("its labels do not decode: %v", err)
				}
			}
		}
		if err := db.checkDecisions(tx, c); err != nil {
			return err
		}
		if err := checkSnapshot(tx, c); err != nil {
			return err
		}
		return checkIndex(tx, c, dims)
	})
}

func checkLabels(text string) error {
	var sets []store.LabelSet
	if err := json.Unmarshal([]byte(text), &sets); err != nil {
		return err
	}
	for _, s := range sets {
		for _, l := range s.Top {
			if !(l.Prob >= 0 && l.Prob <= 1) {
				return fmt.Errorf("label %q probability %v out of range", l.ID, l.Prob)
			}
		}
	}
	return nil
}

func (db *DB) checkDecisions(tx pgx.Tx, c *checker) error {
	rows, err := tx.Query(ctx, "SELECT id, kind, at, hashes, paths FROM simsearch.decisions ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if d, err := scanDecision(rows); err != nil {
			var bad *badDecision
			if !errors.As(err, &bad) {
				return err
			}
			c.add(store.BadRecord, "", "%v", err)
			c.decisions = append(c.decisions, int64(d.ID))
		}
	}
	return rows.Err()
}

func checkSnapshot(tx pgx.Tx, c *checker) error {
	var chunks int32
	var size int64
	err := tx.QueryRow(ctx, "SELECT chunks, bytes FROM simsearch.snapshot").Scan(&chunks, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var n int32
	var got int64
	if err := tx.QueryRow(ctx, "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM simsearch.snapshot_chunks WHERE seq BETWEEN 0 AND $1 - 1", chunks).Scan(&n, &got); err != nil {
		return err
	}
	if n != chunks || got != size {
		c.add(store.BadSnapshot, "", "the index snapshot has %d of its %d chunks, %d of its %d bytes", n, chunks, got, size)
		c.snapshot = true
	}
	return nil
}

func checkIndex(tx pgx.Tx, c *checker, dims int) error {
	if dims == 0 || dims > maxHNSWDims {
		return nil
	}
	var valid bool
	err := tx.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'simsearch' AND c.relname = $1`, hnswIndexName).Scan(&valid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c.add(store.Damaged, "", "the HNSW index of the vectors (simsearch."+hnswIndexName+") is missing")
	case err != nil:
		return err
	case !valid:
		c.add(store.Damaged, "", "the HNSW index of the vectors (simsearch."+hnswIndexName+") is invalid (an interrupted build)")
	default:
		return nil
	}
	c.index = true
	return nil
}

// RepairInPlace drops, in one transaction, every item and decision that
// Check reports as BadRecord and a snapshot it reports as BadSnapshot;
// Check then finds nothing. When the HNSW index is missing or invalid it
// changes nothing and returns an error wrapping store.ErrCorrupt: that
// takes SalvageInPlace.
func (db *DB) RepairInPlace(opts *store.CheckOptions) (store.RepairReport, error) {
	if db.readOnly {
		return store.RepairReport{}, fmt.Errorf("repair %s: %w", db.name, store.ErrReadOnly)
	}
	var c checker
	if err := db.inspect(&c, opts); err != nil {
		return store.RepairReport{}, fmt.Errorf("repair %s: %w", db.name, err)
	}
	if c.index {
		i := slices.IndexFunc(c.problems, func(p store.Problem) bool { return p.Kind == store.Damaged })
		return store.RepairReport{}, fmt.Errorf("repair %s: %w: %s", db.name, store.ErrCorrupt, c.problems[i].Text)
	}
	rep, err := db.drop(&c)
	if err != nil {
		return store.RepairReport{}, fmt.Errorf("repair %s: %w", db.name, err)
	}
	return rep, nil
}

// drop removes what c found bad.
func (db *DB) drop(c *checker) (store.RepairReport, error) {
	rep := store.RepairReport{Items: c.items, Records: len(c.decisions), Snapshot: c.snapshot}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if len(c.items) > 0 {
			if _, err := bumpVersion(tx); err != nil { // first, as Put
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM simsearch.items WHERE id = ANY($1)", int64s(c.items)); err != nil {
				return err
			}
		}
		if len(c.decisions) > 0 {
			if _, err := tx.Exec(ctx, "DELETE FROM simsearch.decisions WHERE id = ANY($1)", c.decisions); err != nil {
				return err
			}
		}
		if c.snapshot {
			if _, err := tx.Exec(ctx, "DELETE FROM simsearch.snapshot_chunks"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM simsearch.snapshot"); err != nil {
				return err
			}
		}
		return nil
	})
	return rep, err
}

// SalvageInPlace is what a salvage means on a server database: there is
// no damaged file to copy out of, so it rebuilds the HNSW index (REINDEX,
// or CREATE INDEX when it is missing) and drops the bad records as
// RepairInPlace does. Kept is always "": nothing is set aside.
func (db *DB) SalvageInPlace(opts *store.CheckOptions) (store.SalvageReport, error) {
	if db.readOnly {
		return store.SalvageReport{}, fmt.Errorf("salvage %s: %w", db.name, store.ErrReadOnly)
	}
	var c checker
	if err := db.inspect(&c, opts); err != nil {
		return store.SalvageReport{}, fmt.Errorf("salvage %s: %w", db.name, err)
	}
	if c.index {
		var dims int
		if err := db.pool.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
			return store.SalvageReport{}, fmt.Errorf("salvage %s: read meta: %w", db.name, err)
		}
		if _, err := db.pool.Exec(ctx, "DROP INDEX IF EXISTS simsearch."+hnswIndexName); err != nil {
			return store.SalvageReport{}, fmt.Errorf("salvage %s: drop the HNSW index: %w", db.name, err)
		}
		if _, err := db.pool.Exec(ctx, hnswIndexSQL(dims)); err != nil {
			return store.SalvageReport{}, fmt.Errorf("salvage %s: rebuild the HNSW index: %w", db.name, err)
		}
	}
	if _, err := db.drop(&c); err != nil {
		return store.SalvageReport{}, fmt.Errorf("salvage %s: %w", db.name, err)
	}
	n, err := db.Len()
	if err != nil {
		return store.SalvageReport{}, fmt.Errorf("salvage %s: %w", db.name, err)
	}
	rep := store.SalvageReport{Items: n, Lost: len(c.items)}
	for _, p := range c.problems {
		if p.Kind == store.BadRecord && p.Path != "" {
			rep.Problems = append(rep.Problems, p)
		}
	}
	return rep, nil
}

package pgstore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/internal/store"
)

// PutFailures records, in one transaction, why each path could not be
// indexed, stamped with the current time, replacing a path's earlier one.
func (db *DB) PutFailures(reasons map[string]string) error {
	if len(reasons) == 0 {
		return nil
	}
	if db.readOnly {
		return fmt.Errorf("record %d failures: %w", len(reasons), store.ErrReadOnly)
	}
	now := time.Now()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for path, reason := range reasons {
			b.Queue(`INSERT INTO simsearch.failures (path, reason, at) VALUES ($1, $2, $3)
				ON CONFLICT (path) DO UPDATE SET reason = excluded.reason, at = excluded.at`, []byte(path), reason, now)
		}
		return tx.SendBatch(ctx, &b).Close()
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
	if db.readOnly {
		return fmt.Errorf("clear %d failures: %w", len(paths), store.ErrReadOnly)
	}
	if _, err := db.pool.Exec(ctx, "DELETE FROM simsearch.failures WHERE path = ANY($1)", byteSlices(paths)); err != nil {
		return fmt.Errorf("clear %d failures: %w", len(paths), err)
	}
	return nil
}

func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// Failures returns every recorded failure, sorted by path (bytewise, as
// store sorts them).
func (db *DB) Failures() ([]store.Failure, error) {
	rows, err := db.pool.Query(ctx, "SELECT path, reason, at FROM simsearch.failures ORDER BY path")
	if err != nil {
		return nil, fmt.Errorf("read failures: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Failure, error) {
		var f store.Failure
		var path []byte
		err := r.Scan(&path, &f.Reason, &f.Time)
		f.Path = string(path)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read failures: %w", err)
	}
	return out, nil
}

// AddDecision records d and returns its id, which is never given again
// (an identity column: ids of deleted decisions are not reused). It sorts
// d.Files by hash, then path; a zero Time means now.
func (db *DB) AddDecision(d store.Decision) (uint64, error) {
	if len(d.Files) < 2 {
		return 0, fmt.Errorf("record decision: %w", store.ErrBadDecision)
	}
	if db.readOnly {
		return 0, fmt.Errorf("record decision: %w", store.ErrReadOnly)
	}
	files := slices.Clone(d.Files)
	slices.SortFunc(files, compareFiles)
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	hashes := make([][]byte, len(files))
	paths := make([][]byte, len(files))
	for i, f := range files {
		hashes[i], paths[i] = bytes.Clone(f.Hash[:]), []byte(f.Path)
	}
	var id int64
	err := db.pool.QueryRow(ctx, "INSERT INTO simsearch.decisions (kind, at, hashes, paths) VALUES ($1, $2, $3, $4) RETURNING id",
		int16(d.Kind), d.Time.UnixNano(), hashes, paths).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record decision: %w", err)
	}
	return uint64(id), nil
}

// compareFiles orders decision files by hash, then path, as store does.
func compareFiles(a, b store.DecisionFile) int {
	if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

// Decisions returns every recorded decision in id order. One that does
// not decode is store.ErrCorrupt, never skipped: it may say "keep".
func (db *DB) Decisions() ([]store.Decision, error) {
	rows, err := db.pool.Query(ctx, "SELECT id, kind, at, hashes, paths FROM simsearch.decisions ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Decision, error) { return scanDecision(r) })
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	return out, nil
}

// badDecision is a decision row that breaks the rules AddDecision writes
// by; it is store.ErrCorrupt.
type badDecision struct{ msg string }

func (e *badDecision) Error() string { return e.msg }
func (e *badDecision) Unwrap() error { return store.ErrCorrupt }

// scanDecision reads a decision row; one that breaks the rules is an
// *badDecision, with the decision's ID set.
func scanDecision(r pgx.Row) (store.Decision, error) {
	var d store.Decision
	var id int64
	var kind int16
	var at int64
	var hashes, paths [][]byte
	if err := r.Scan(&id, &kind, &at, &hashes, &paths); err != nil {
		return d, err
	}
	d.ID, d.Kind, d.Time = uint64(id), store.DecisionKind(kind), time.Unix(0, at)
	bad := func(format string, args ...any) (store.Decision, error) {
		return store.Decision{ID: uint64(id)}, &badDecision{fmt.Sprintf("%v: decision %d %s", store.ErrCorrupt, id, fmt.Sprintf(format, args...))}
	}
	if len(hashes) != len(paths) {
		return bad("has %d hashes for %d paths", len(hashes), len(paths))
	}
	if len(hashes) < 2 {
		return bad("names %d files, a decision needs two", len(hashes))
	}
	d.Files = make([]store.DecisionFile, len(hashes))
	for i := range hashes {
		if len(hashes[i]) != len(d.Files[i].Hash) {
			return bad("has a hash of %d bytes", len(hashes[i]))
		}
		copy(d.Files[i].Hash[:], hashes[i])
		d.Files[i].Path = string(paths[i])
	}
	if !slices.IsSortedFunc(d.Files, compareFiles) {
		return bad("has its files out of order")
	}
	return d, nil
}

// DeleteDecision removes the decision id and reports whether there was one.
func (db *DB) DeleteDecision(id uint64) (bool, error) {
	if db.readOnly {
		return false, fmt.Errorf("forget decision %d: %w", id, store.ErrReadOnly)
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM simsearch.decisions WHERE id = $1", int64(id))
	if err != nil {
		return false, fmt.Errorf("forget decision %d: %w", id, err)
	}
	return tag.RowsAffected() > 0, nil
}

// chunkSize is the size of one snapshot row: large enough that a big
// index takes few rows, well under bytea's 1 GiB.
const chunkSize = 8 << 20

// castagnoli is the checksum's table, as store's snapshots use.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveIndex replaces the index snapshot with what write writes, recorded
// as taken at items version, in one transaction: LoadIndex sees the old
// snapshot or the whole new one. write must not write to the database.
func (db *DB) SaveIndex(version uint64, write func(w io.Writer) error) error {
	if db.readOnly {
		return fmt.Errorf("save index: %w", store.ErrReadOnly)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(snapshotLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM simsearch.snapshot_chunks"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM simsearch.snapshot"); err != nil {
			return err
		}
		w := &chunkWriter{tx: tx}
		if err := write(w); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO simsearch.snapshot (version, bytes, chunks, crc) VALUES ($1, $2, $3, $4)",
			int64(version), w.size, w.seq, int64(w.crc))
		return err
	})
	if err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	return nil
}

// chunkWriter buffers what it is given into rows of chunkSize.
type chunkWriter struct {
	tx   pgx.Tx
	buf  []byte
	seq  int32
	size int64
	crc  uint32
	err  error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	if _, err := w.tx.Exec(ctx, "INSERT INTO simsearch.snapshot_chunks (seq, data) VALUES ($1, $2)", w.seq, w.buf); err != nil {
		w.err = err
		return err
	}
	w.crc = crc32.Update(w.crc, castagnoli, w.buf)
	w.size += int64(len(w.buf))
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// LoadIndex calls read with the stored index snapshot and returns the
// items version it was taken at, and whether that is the current one.
// With no snapshot it returns (0, false, nil) without calling read. The
// reader fails with store.ErrCorrupt instead of io.EOF when the
// snapshot's size or checksum is wrong. It reads in one repeatable-read
// transaction, so a SaveIndex meanwhile is not seen half.
func (db *DB) LoadIndex(read func(r io.Reader) error) (version uint64, ok bool, err error) {
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var v, size, current, sum int64
		var chunks int32
		err := tx.QueryRow(ctx, "SELECT s.version, s.bytes, s.chunks, s.crc, m.items_version FROM simsearch.snapshot s, simsearch.meta m").
			Scan(&v, &size, &chunks, &sum, &current)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := read(&chunkReader{tx: tx, chunks: chunks, size: size, sum: uint32(sum)}); err != nil {
			return err
		}
		version, ok = uint64(v), v == current
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("load index: %w", err)
	}
	return version, ok, nil
}

// chunkReader reads the snapshot's rows in order and checks their total
// size and checksum at the end.
type chunkReader struct {
	tx     pgx.Tx
	chunks int32
	size   int64
	sum    uint32
	seq    int32
	cur    []byte
	read   int64
	crc    uint32
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.seq == r.chunks {
			r.err = r.end()
			return 0, r.err
		}
		var data []byte
		err := r.tx.QueryRow(ctx, "SELECT data FROM simsearch.snapshot_chunks WHERE seq = $1", r.seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			err = fmt.Errorf("%w: snapshot chunk %d of %d is missing", store.ErrCorrupt, r.seq, r.chunks)
		}
		if err != nil {
			r.err = err
			return 0, err
		}
		r.crc = crc32.Update(r.crc, castagnoli, data)
		r.read += int64(len(data))
		r.cur = data
		r.seq++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// end is io.EOF when the size and checksum are right.
func (r *chunkReader) end() error {
	switch {
	case r.read != r.size:
		return fmt.Errorf("%w: the snapshot holds %d bytes, it recorded %d", store.ErrCorrupt, r.read, r.size)
	case r.crc != r.sum:
		return fmt.Errorf("%w: the snapshot's checksum is wrong", store.ErrCorrupt)
	}
	return io.EOF
}

package pgstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/simsearch/simsearch/internal/store"
)

// Several index runs share one database through the work table: each
// enqueues the files its walk found new or changed, then claims batches
// of them with a lease (UPDATE … FOR UPDATE SKIP LOCKED), renews the
// lease while it embeds, and its Put deletes a file's row in the
// transaction that stores the file's item. A run that dies leaves rows
// whose lease runs out; another run claims them then. A row claimed
// MaxAttempts times without being stored becomes a failure.

// MaxAttempts is how many times a file is claimed before it is recorded
// as a failure instead of claimed again: a file that kills the process
// embedding it (or whose worker dies for any reason) that often is not
// tried forever.
const MaxAttempts = 3

// DefaultLease is how long a claim holds when nobody renews it.
const DefaultLease = 30 * time.Second

// Work is a file queued to be embedded: its path and the size and
// modification time (Unix nanoseconds) the walk saw, which say whether a
// stored item is of this version of the file.
type Work struct {
	Path    string
	Size    int64
	ModTime int64
}

// newOwner names this handle in claims: host/pid/random, so that two
// handles of one process are two workers, and people see where a claim
// comes from.
func newOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Owner is the name of this handle's claims (host/pid/random).
func (db *DB) Owner() string { return db.owner }

// Enqueue queues files to be embedded, skipping those already queued
// (claimed or not) and those whose item of the same size and
// modification time is stored. It returns how many it queued.
func (db *DB) Enqueue(files []Work) (int, error) {
	if len(files) == 0 {
		return 0, nil
	}
	if db.readOnly {
		return 0, fmt.Errorf("queue %d files: %w", len(files), store.ErrReadOnly)
	}
	paths := make([][]byte, len(files))
	sizes := make([]int64, len(files))
	mtimes := make([]int64, len(files))
	for i, f := range files {
		paths[i], sizes[i], mtimes[i] = []byte(f.Path), f.Size, f.ModTime
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO simsearch.work (path, size, mtime)
		SELECT w.path, w.size, w.mtime FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS w(path, size, mtime)
		WHERE NOT EXISTS (SELECT 1 FROM simsearch.items i WHERE i.path = w.path AND i.size = w.size AND i.mtime = w.mtime)
		ON CONFLICT (path) DO NOTHING`, paths, sizes, mtimes)
	if err != nil {
		return 0, fmt.Errorf("queue %d files: %w", len(files), err)
	}
	return int(tag.RowsAffected()), nil
}

// minClaim is the fewest files a claim takes while there are as many:
// below 4n free files, a claim takes a quarter of them, so that at the
// end of a tree the workers still share what is left.
const minClaim = 4

// Claim takes up to n queued files under roots (files or folders; all
// files when there are none) for this handle for lease: files
// nobody holds, whose lease ran out, or that this handle held before (a
// batch it failed to store). Files stored meanwhile by another run are
// dropped from the queue, not claimed, and files claimed MaxAttempts
// times become failures. Near the end of the queue a claim takes fewer
// (minClaim). Claims never wait for another run's: rows being
// claimed elsewhere are skipped (SKIP LOCKED). An empty result means
// nothing is left to claim now; files held by others may still come back
// when their lease runs out (see Pending).
func (db *DB) Claim(n int, lease time.Duration, roots []string) ([]Work, error) {
	return db.ClaimExcept(n, lease, roots, nil)
}

// ClaimExcept is Claim leaving out the files at except: those this run
// gave back (GiveBack) because it does not index them itself.
func (db *DB) ClaimExcept(n int, lease time.Duration, roots, except []string) ([]Work, error) {
	in, prefixes := underRoots(roots)
	if except == nil {
		except = []string{}
	}
	if db.readOnly {
		return nil, fmt.Errorf("claim files: %w", store.ErrReadOnly)
	}
	var out []Work
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `DELETE FROM simsearch.work WHERE path IN (
			SELECT w.path FROM simsearch.work w JOIN simsearch.items i ON i.path = w.path AND i.size = w.size AND i.mtime = w.mtime
			WHERE w.lease_until IS NULL OR w.lease_until < now() OR w.owner = $1
			FOR UPDATE OF w SKIP LOCKED)`, db.owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `WITH dead AS (
			DELETE FROM simsearch.work WHERE path IN (
				SELECT path FROM simsearch.work
				WHERE attempts >= $1 AND (lease_until IS NULL OR lease_until < now()) AND owner IS DISTINCT FROM $2
				FOR UPDATE SKIP LOCKED)
			RETURNING path, attempts, owner, last_error)
			INSERT INTO simsearch.failures (path, reason, at)
			SELECT path, format('claimed %s times and never stored (%s)', attempts,
				CASE WHEN last_error <> '' THEN last_error ELSE format('the lease of %s ran out', coalesce(owner, 'a worker')) END), now()
			FROM dead
			ON CONFLICT (path) DO UPDATE SET reason = excluded.reason, at = excluded.at`, MaxAttempts, db.owner); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE simsearch.work w SET
				last_error = CASE WHEN w.owner IS NOT NULL AND w.owner <> $1 THEN format('the lease of %s ran out', w.owner) ELSE w.last_error END,
				attempts = w.attempts + CASE WHEN w.owner = $1 THEN 0 ELSE 1 END,
				owner = $1, lease_until = now() + make_interval(secs => $2)
			WHERE w.path IN (
				SELECT path FROM simsearch.work
				WHERE ((lease_until IS NULL OR lease_until < now()) AND attempts < $4 OR owner = $1) AND `+underSQL(5, 6)+`
					AND path <> ALL($8::bytea[])
				ORDER BY path LIMIT least($3::bigint, greatest($7::bigint, (SELECT count(*) FROM (SELECT FROM simsearch.work
					WHERE lease_until IS NULL OR lease_until < now() LIMIT $3::bigint * 4) free) / 4))
				FOR UPDATE SKIP LOCKED)
			RETURNING w.path, w.size, w.mtime`, db.owner, lease.Seconds(), n, MaxAttempts, in, prefixes, minClaim, byteSlices(except))
		if err != nil {
			return err
		}
		var path []byte
		var w Work
		if _, err := pgx.ForEachRow(rows, []any{&path, &w.Size, &w.ModTime}, func() error {
			w.Path = string(path)
			out = append(out, w)
			return nil
		}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO simsearch.workers (owner, started, seen) VALUES ($1, now(), now())
			ON CONFLICT (owner) DO UPDATE SET seen = now()`, db.owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim files: %w", err)
	}
	slices.SortFunc(out, func(a, b Work) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out, nil
}

// Renew extends this handle's claims by lease from now: the heartbeat of
// a run that is still embedding them.
func (db *DB) Renew(lease time.Duration) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE simsearch.work SET lease_until = now() + make_interval(secs => $2) WHERE owner = $1",
			db.owner, lease.Seconds()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE simsearch.workers SET seen = now() WHERE owner = $1", db.owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("renew the claims of %s: %w", db.owner, err)
	}
	return nil
}

// Finish drops this handle's claims of paths that need no storing: files
// that are not photos, or whose failure is recorded.
func (db *DB) Finish(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	if _, err := db.pool.Exec(ctx, "DELETE FROM simsearch.work WHERE owner = $1 AND path = ANY($2)",
		db.owner, byteSlices(paths)); err != nil {
		return fmt.Errorf("finish %d claims: %w", len(paths), err)
	}
	return nil
}

// GiveBack lets go of this handle's claims of paths without counting
// them as attempts: files another run queued that this one does not
// index (its excludes leave them out), for a run that does. The caller
// leaves them out of its next claims (ClaimExcept).
func (db *DB) GiveBack(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	if _, err := db.pool.Exec(ctx, `UPDATE simsearch.work SET owner = NULL, lease_until = NULL,
		attempts = greatest(attempts - 1, 0) WHERE owner = $1 AND path = ANY($2)`, db.owner, byteSlices(paths)); err != nil {
		return fmt.Errorf("give back %d claims: %w", len(paths), err)
	}
	return nil
}

// Unclaim lets go of every claim of this handle at once, so that other
// runs need not wait for the lease: reason (when not "") is recorded as
// the files' last error and the claims count as attempts; without a
// reason (an interrupted run) they do not.
func (db *DB) Unclaim(reason string) error {
	var err error
	if reason == "" {
		_, err = db.pool.Exec(ctx, `UPDATE simsearch.work SET owner = NULL, lease_until = NULL,
			attempts = greatest(attempts - 1, 0) WHERE owner = $1`, db.owner)
	} else {
		_, err = db.pool.Exec(ctx, `UPDATE simsearch.work SET owner = NULL, lease_until = NULL, last_error = $2
			WHERE owner = $1`, db.owner, reason)
	}
	if err != nil {
		return fmt.Errorf("let go of the claims of %s: %w", db.owner, err)
	}
	return nil
}

// Pending returns how many queued files under roots are held by other handles'
// live leases, and how long until the first of those leases runs out:
// what a run that found nothing to claim waits for.
func (db *DB) Pending(roots []string) (n int, next time.Duration, err error) {
	in, prefixes := underRoots(roots)
	var ms float64
	err = db.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM min(lease_until) - now()) * 1000, 0)
		FROM simsearch.work WHERE owner IS DISTINCT FROM $1 AND lease_until >= now() AND `+underSQL(2, 3), db.owner, in, prefixes).Scan(&n, &ms)
	if err != nil {
		return 0, 0, fmt.Errorf("count the claims of other runs: %w", err)
	}
	return n, time.Duration(ms * float64(time.Millisecond)), nil
}

// WorkStatus is what the work queue holds, for simsearch status.
type WorkStatus struct {
	Queued  int            // waiting for a worker (never claimed, or a lease that ran out)
	Claimed int            // held by a live lease
	Workers []WorkerStatus // those holding claims or seen in the last 10 minutes, by owner
}

// WorkerStatus is one worker's part.
type WorkerStatus struct {
	Owner     string        // host/pid/random
	Claimed   int           // files it holds
	LeaseLeft time.Duration // until its first claim's lease runs out; 0 without claims
	Stored    int64         // files whose item it stored from its claims
	Started   time.Time     // its first claim
	Seen      time.Time     // its last claim or heartbeat
}

// Status reads the work queue and the workers' records.
func (db *DB) Status() (WorkStatus, error) {
	var st WorkStatus
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE lease_until IS NULL OR lease_until < now()),
			count(*) FILTER (WHERE lease_until >= now()) FROM simsearch.work`).Scan(&st.Queued, &st.Claimed); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT o.owner, coalesce(c.n, 0), coalesce(extract(epoch FROM c.first - now()) * 1000, 0),
				coalesce(k.stored, 0), coalesce(k.started, now()), coalesce(k.seen, now())
			FROM (SELECT owner FROM simsearch.work WHERE lease_until >= now() UNION SELECT owner FROM simsearch.workers WHERE seen > now() - interval '10 minutes') o
			LEFT JOIN (SELECT owner, count(*) AS n, min(lease_until) AS first FROM simsearch.work
				WHERE lease_until >= now() GROUP BY owner) c ON c.owner = o.owner
			LEFT JOIN simsearch.workers k ON k.owner = o.owner
			ORDER BY o.owner`)
		if err != nil {
			return err
		}
		var w WorkerStatus
		var ms float64
		_, err = pgx.ForEachRow(rows, []any{&w.Owner, &w.Claimed, &ms, &w.Stored, &w.Started, &w.Seen}, func() error {
			w.LeaseLeft = time.Duration(ms * float64(time.Millisecond))
			st.Workers = append(st.Workers, w)
			return nil
		})
		return err
	})
	if err != nil {
		return WorkStatus{}, fmt.Errorf("read the work queue: %w", err)
	}
	return st, nil
}

// IsUnavailable reports whether err says the server could not be used
// for now (down, restarting, the connection lost) rather than that the
// statement was wrong: a run may wait and retry it.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exceptions
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, starting up
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// underSQL is true of a work row whose path is under the roots given as
// parameter $in (the roots themselves) and $prefixes (each with a
// trailing slash); with no roots, of every row.
func underSQL(in, prefixes int) string {
	return fmt.Sprintf(`(cardinality($%[1]d::bytea[]) = 0 OR path = ANY($%[1]d::bytea[])
	OR EXISTS (SELECT 1 FROM unnest($%[2]d::bytea[]) p WHERE substring(path FROM 1 FOR length(p)) = p))`, in, prefixes)
}

// underRoots are underSQL's arguments.
func underRoots(roots []string) (in, prefixes [][]byte) {
	in, prefixes = [][]byte{}, [][]byte{}
	for _, r := range roots {
		in = append(in, []byte(r))
		// A named root's own stored form ("photos:") is the prefix of its
		// files' ("photos:2020/a.jpg").
		if !strings.HasSuffix(r, "/") && !(strings.HasSuffix(r, ":") && !strings.HasPrefix(r, "/")) {
			r += "/"
		}
		prefixes = append(prefixes, []byte(r))
	}
	return in, prefixes
}

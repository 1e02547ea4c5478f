package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simsearch/simsearch/internal/store"
)

// SchemaVersion is the layout of the tables this package writes: the
// number of migrations. Open applies the ones a database lacks and
// refuses one with a higher version (store.ErrSchemaTooNew), so an older
// binary never misreads a newer layout.
const SchemaVersion = len(migrations) - 1

// migrations[v] brings a database from version v-1 to v; [0] is unused.
// A new one is appended, never an old one changed: databases in use have
// run them.
var migrations = [...]string{
	0: "",
	1: `
CREATE SCHEMA IF NOT EXISTS simsearch;
CREATE TABLE simsearch.meta (
	one            boolean PRIMARY KEY DEFAULT true CHECK (one),
	schema_version integer NOT NULL,
	fingerprint    text    NOT NULL DEFAULT '',
	model_name     text    NOT NULL DEFAULT '',
	dims           integer NOT NULL DEFAULT 0,
	items_version  bigint  NOT NULL DEFAULT 0
);
INSERT INTO simsearch.meta (schema_version) VALUES (0);
CREATE TABLE simsearch.items (
	id       bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	path     bytea    NOT NULL UNIQUE,
	size     bigint   NOT NULL,
	mtime    bigint   NOT NULL,
	hash     bytea    NOT NULL,
	width    integer  NOT NULL,
	height   integer  NOT NULL,
	format   text     NOT NULL,
	state    smallint NOT NULL,
	taken    bigint   NOT NULL,
	taken_at text     NOT NULL,
	make     bytea    NOT NULL,
	model    bytea    NOT NULL,
	labels   jsonb,
	v        vector   NOT NULL
);
CREATE TABLE simsearch.failures (
	path   bytea       PRIMARY KEY,
	reason text        NOT NULL,
	at     timestamptz NOT NULL
);
CREATE TABLE simsearch.decisions (
	id     bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind   smallint NOT NULL,
	at     bigint   NOT NULL,
	hashes bytea[]  NOT NULL,
	paths  bytea[]  NOT NULL
);
CREATE TABLE simsearch.snapshot (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint  NOT NULL,
	bytes   bigint  NOT NULL,
	chunks  integer NOT NULL,
	crc     bigint  NOT NULL -- CRC-32C of the chunks in order
);
CREATE TABLE simsearch.snapshot_chunks (
	seq  integer PRIMARY KEY,
	data bytea   NOT NULL
);`,
	// The work queue of several index runs (claims.go): a file an index
	// run found new or changed, until a Put stores it.
	2: `
CREATE TABLE simsearch.work (
	path        bytea       PRIMARY KEY,
	size        bigint      NOT NULL,
	mtime       bigint      NOT NULL,
	owner       text,
	lease_until timestamptz,
	attempts    integer     NOT NULL DEFAULT 0,
	last_error  text        NOT NULL DEFAULT ''
);
CREATE INDEX work_owner ON simsearch.work (owner) WHERE owner IS NOT NULL;
CREATE TABLE simsearch.workers (
	owner   text        PRIMARY KEY,
	started timestamptz NOT NULL,
	seen    timestamptz NOT NULL,
	stored  bigint      NOT NULL DEFAULT 0
);`,
	// The HNSW index on half-precision copies of the vectors: half the
	// size of the one on the vectors at equal recall (BenchmarkPostgres),
	// and it takes up to 4,000 dimensions. Searches order by the copies'
	// distance (hnswOrder); scores are computed from the vectors. A
	// database whose dimensions are not known yet gets it with them
	// (setDims).
	3: `
DO $$
DECLARE d integer;
BEGIN
	SELECT dims INTO d FROM simsearch.meta;
	DROP INDEX IF EXISTS simsearch.items_v_hnsw;
	IF d > 0 AND d <= 4000 THEN
		EXECUTE format('CREATE INDEX IF NOT EXISTS items_h_hnsw ON simsearch.items
			USING hnsw ((v::halfvec(%s)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)', d);
	END IF;
END $$;`,
	// The items version that last wrote each item (Put), so that an
	// index catches up on what changed since its snapshot
	// (VectorsSince) instead of reading every vector. Items stored
	// before get the current version: changed, for a snapshot older than
	// that. A constant default adds the column without rewriting rows.
	4: `
DO $$
BEGIN
	EXECUTE format('ALTER TABLE simsearch.items ADD COLUMN version bigint NOT NULL DEFAULT %s',
		(SELECT items_version FROM simsearch.meta));
END $$;
CREATE INDEX items_version ON simsearch.items (version);`,
	// The search breadth Tune chose (tune.go) and what it measured: 0
	// tuned_size for never.
	5: `
ALTER TABLE simsearch.meta
	ADD COLUMN tuned_ef     integer          NOT NULL DEFAULT 0,
	ADD COLUMN tuned_recall double precision NOT NULL DEFAULT 0,
	ADD COLUMN tuned_size   bigint           NOT NULL DEFAULT 0,
	ADD COLUMN tuned_target double precision NOT NULL DEFAULT 0;`,
}

// maxHNSWDims is the most dimensions pgvector's HNSW index takes for the
// halfvec type; past it the vectors are stored without the index.
const maxHNSWDims = 4000

// migrateLock is the advisory lock key Open holds while it creates or
// migrates the tables ("simsearc" in ASCII).
const migrateLock = 0x73696d7365617263

// snapshotLock is the advisory lock key SaveIndex holds.
const snapshotLock = migrateLock + 1

// defaultConnectTimeout bounds a connection attempt when the DSN does not
// say (connect_timeout).
const defaultConnectTimeout = 10 * time.Second

// Options configure Open; nil means read-write, no model check.
type Options struct {
	// ReadOnly opens for queries: writes return store.ErrReadOnly, and
	// the sessions are read-only, so that a read replica's DSN works.
	ReadOnly bool
	// Fingerprint, ModelName and Dims are store.Options': the first
	// read-write Open with a fingerprint records it, a later one with
	// another fails with store.ErrModelMismatch.
	Fingerprint string
	ModelName   string
	Dims        int
}

// DB is an open simsearch database in PostgreSQL. Its methods are safe for
// concurrent use; nothing they return points into pgx's buffers.
type DB struct {
	pool     *pgxpool.Pool
	name     string // the DSN without its password, for messages
	readOnly bool
	owner    string // this handle's name in the work queue (claims.go)
}

// IsDSN reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a database file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns dsn without its password, for messages and reports.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ctx is the context of the calls of the storage interface, which take
// none: each statement runs to its end or the connection's failure.
var ctx = context.Background()

// Open connects to the database dsn names and opens its simsearch tables:
// creating or migrating them (read-write), checking the schema version and
// the model. It fails with store.ErrSchemaTooNew, store.ErrModelMismatch,
// an error wrapping fs.ErrNotExist for a read-only open of a database
// that holds no simsearch tables, and otherwise with one line saying what
// is wrong and what to do: the server cannot be reached, the password is
// wrong, the vector extension is missing.
func Open(dsn string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	name := Redact(dsn)
	if o.Dims < 0 {
		return nil, fmt.Errorf("open %s: negative dimensions %d", name, o.Dims)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE): %v", name, redactErr(err, dsn))
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "simsearch"
	}
	if o.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, connectError(err, cfg))
	}
	db := &DB{pool: pool, name: name, readOnly: o.ReadOnly, owner: newOwner()}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", name, connectError(err, cfg))
	}
	if o.ReadOnly {
		err = db.checkReadOnly(&o)
	} else {
		err = db.setUp(&o, cfg.ConnConfig)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return db, nil
}

// oneLine is an error whose message says what to do, wrapping the
// driver's error for errors.As.
type oneLine struct {
	msg string
	err error
}

func (e *oneLine) Error() string { return e.msg }
func (e *oneLine) Unwrap() error { return e.err }

// connectError says in one line why the server could not be used.
func connectError(err error, cfg *pgxpool.Config) error {
	cc := cfg.ConnConfig
	at := net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port))
	if strings.HasPrefix(cc.Host, "/") {
		at = cc.Host // a Unix socket folder
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return &oneLine{fmt.Sprintf("PostgreSQL at %s refused user %q: %s; check the user and password in the DSN (or PGPASSWORD, ~/.pgpass)", at, cc.User, pgErr.Message), err}
		case "3D000":
			return &oneLine{fmt.Sprintf("PostgreSQL at %s has no database %q; create it (createdb %s) or name another in the DSN", at, cc.Database, cc.Database), err}
		case "53300":
			return &oneLine{fmt.Sprintf("PostgreSQL at %s has no connection slot left; retry later or raise max_connections", at), err}
		}
		return &oneLine{fmt.Sprintf("PostgreSQL at %s: %s (SQLSTATE %s)", at, pgErr.Message, pgErr.Code), err}
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &oneLine{fmt.Sprintf("cannot reach PostgreSQL at %s (connection refused); start the server, or correct the host and port in the DSN", at), err}
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return &oneLine{fmt.Sprintf("cannot reach PostgreSQL at %s (no answer within %s); check the host, port and firewall", at, cc.ConnectTimeout), err}
	case errors.Is(err, syscall.ENOENT):
		return &oneLine{fmt.Sprintf("cannot reach PostgreSQL at %s (no such socket); start the server, or correct the host in the DSN", at), err}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &oneLine{fmt.Sprintf("cannot reach PostgreSQL at %s (unknown host %q); correct the host in the DSN", at, dnsErr.Name), err}
	}
	return &oneLine{fmt.Sprintf("cannot use PostgreSQL at %s: %s", at, lastLine(err.Error())), err}
}

// lastLine keeps an error message on one line.
func lastLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// redactErr is err's message without the DSN's password.
func redactErr(err error, dsn string) string {
	msg := lastLine(err.Error())
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// setUp makes sure of the extension, creates or migrates the tables and
// checks the model, all under the migration lock.
func (db *DB) setUp(o *Options, cc *pgx.ConnConfig) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return err
		}
		if err := ensureVector(tx, cc); err != nil {
			return err
		}
		version, err := schemaVersion(tx)
		if err != nil {
			return err
		}
		if version > SchemaVersion {
			return fmt.Errorf("%w: schema version %d, this simsearch reads up to %d", store.ErrSchemaTooNew, version, SchemaVersion)
		}
		for v := version + 1; v <= SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate the tables to version %d: %w", v, err)
			}
		}
		if version < SchemaVersion {
			if _, err := tx.Exec(ctx, "UPDATE simsearch.meta SET schema_version = $1", SchemaVersion); err != nil {
				return err
			}
		}
		return checkModel(tx, o, true)
	})
}

// ensureVector creates the vector extension when the database lacks it,
// which takes a superuser (pgvector is not a trusted extension).
func ensureVector(tx pgx.Tx, cc *pgx.ConnConfig) error {
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector")
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		return &oneLine{fmt.Sprintf("database %q lacks the vector extension and user %q may not create it; have a superuser run CREATE EXTENSION vector in it", cc.Database, cc.User), err}
	case errors.As(err, &pgErr) && (pgErr.Code == "58P01" || pgErr.Code == "0A000"):
		return &oneLine{"the server has no pgvector (the vector extension); install it there (see the README's PostgreSQL section), then CREATE EXTENSION vector", err}
	}
	return fmt.Errorf("create the vector extension: %w", err)
}

// querier is what reads need: a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// schemaVersion is the version of the tables; 0 when there are none.
func schemaVersion(q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('simsearch.meta') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, "SELECT schema_version FROM simsearch.meta").Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("%w: table simsearch.meta has no row", store.ErrCorrupt)
		}
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}

// checkReadOnly checks a database opened for queries: it must hold
// simsearch's tables, of a version this package reads, and o's model.
func (db *DB) checkReadOnly(o *Options) error {
	version, err := schemaVersion(db.pool)
	switch {
	case err != nil:
		return err
	case version == 0:
		return fmt.Errorf("no simsearch tables in this database: %w", fs.ErrNotExist)
	case version > SchemaVersion:
		return fmt.Errorf("%w: schema version %d, this simsearch reads up to %d", store.ErrSchemaTooNew, version, SchemaVersion)
	case version < SchemaVersion:
		return fmt.Errorf("the tables are of schema version %d, from an older simsearch; run simsearch index once (it migrates them to %d)", version, SchemaVersion)
	}
	return checkModel(db.pool, o, false)
}

// checkModel refuses a database of another model (store.CheckModel, the
// bbolt store's check) and records o's model in a new one when record is
// set.
func checkModel(q querier, o *Options, record bool) error {
	var have store.ModelRecord
	if err := q.QueryRow(ctx, "SELECT fingerprint, model_name, dims FROM simsearch.meta").Scan(&have.Fingerprint, &have.Name, &have.Dims); err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	newModel, newDims, err := store.CheckModel(have, store.ModelRecord{Fingerprint: o.Fingerprint, Name: o.ModelName, Dims: o.Dims},
		func() (int, error) {
			var n int
			err := q.QueryRow(ctx, "SELECT count(*) FROM simsearch.items").Scan(&n)
			return n, err
		})
	if err != nil || !record {
		return err
	}
	if newModel {
		if _, err := q.Exec(ctx, "UPDATE simsearch.meta SET fingerprint = $1, model_name = $2", o.Fingerprint, o.ModelName); err != nil {
			return err
		}
	}
	if newDims {
		return setDims(q, o.Dims)
	}
	return nil
}

// setDims records the dimensions, gives the vector column its length and
// makes the HNSW index over it. It runs in a transaction that holds the
// migration lock or the meta row.
func setDims(q querier, dims int) error {
	if _, err := q.Exec(ctx, "UPDATE simsearch.meta SET dims = $1", dims); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, fmt.Sprintf("ALTER TABLE simsearch.items ALTER COLUMN v TYPE vector(%d)", dims)); err != nil {
		return fmt.Errorf("set the vector column to %d dimensions: %w", dims, err)
	}
	if dims > maxHNSWDims {
		return nil
	}
	_, err := q.Exec(ctx, hnswIndexSQL(dims))
	if err != nil {
		return fmt.Errorf("create the HNSW index: %w", err)
	}
	return nil
}

// hnswIndexName is the HNSW index's name in the schema simsearch.
const hnswIndexName = "items_h_hnsw"

// hnswIndexSQL makes the HNSW index over half-precision copies of the
// vectors (migration 3 says why); cosine order is inner product order
// for unit vectors, and cosine is what people read.
func hnswIndexSQL(dims int) string {
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON simsearch.items
	USING hnsw ((v::halfvec(%d)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`, hnswIndexName, dims)
}

// hnswOrder is the distance from column col's vector to the vector
// expression q that a search orders by so that the planner takes the
// HNSW index: the distance of their half-precision copies, as indexed.
func hnswOrder(col, q string, dims int) string {
	return fmt.Sprintf("%s::halfvec(%d) <=> (%s)::halfvec(%d)", col, dims, q, dims)
}

// DropIndex drops the HNSW index, for a bulk load: rows put without it
// go in several times faster, and BuildIndex then makes it over all of
// them at once. Searches meanwhile scan the table (exact and slow).
func (db *DB) DropIndex() error {
	if db.readOnly {
		return fmt.Errorf("drop the HNSW index: %w", store.ErrReadOnly)
	}
	if _, err := db.pool.Exec(ctx, "DROP INDEX IF EXISTS simsearch."+hnswIndexName); err != nil {
		return fmt.Errorf("drop the HNSW index: %w", err)
	}
	return nil
}

// BuildIndex makes the HNSW index if it is missing (after DropIndex) and
// updates the planner's statistics; it does nothing before the
// dimensions are known or beyond the 4,000 the index takes.
func (db *DB) BuildIndex() error {
	if db.readOnly {
		return fmt.Errorf("build the HNSW index: %w", store.ErrReadOnly)
	}
	var dims int
	if err := db.pool.QueryRow(ctx, "SELECT dims FROM simsearch.meta").Scan(&dims); err != nil {
		return fmt.Errorf("build the HNSW index: read meta: %w", err)
	}
	if dims == 0 || dims > maxHNSWDims {
		return nil
	}
	if _, err := db.pool.Exec(ctx, hnswIndexSQL(dims)); err != nil {
		return fmt.Errorf("build the HNSW index: %w", err)
	}
	// The planner's statistics of the rows loaded meanwhile.
	if _, err := db.pool.Exec(ctx, "ANALYZE simsearch.items"); err != nil {
		return fmt.Errorf("build the HNSW index: analyze: %w", err)
	}
	return nil
}

// IndexBytes is the size of the HNSW index, 0 without one.
func (db *DB) IndexBytes() (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT coalesce(pg_relation_size(to_regclass($1)), 0)", "simsearch."+hnswIndexName).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("size of the HNSW index: %w", err)
	}
	return n, nil
}

// Path returns the DSN without its password.
func (db *DB) Path() string { return db.name }

// Release does nothing: PostgreSQL needs no writer lock let go between
// commits (see the package doc).
func (db *DB) Release() error { return nil }

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Meta returns the database's description.
func (db *DB) Meta() (store.Meta, error) {
	var m store.Meta
	var items, snapshot int64
	err := db.pool.QueryRow(ctx, `SELECT m.schema_version, m.fingerprint, m.model_name, m.dims, m.items_version,
		s.version IS NOT NULL, coalesce(s.version, 0)
		FROM simsearch.meta m LEFT JOIN simsearch.snapshot s ON true`).
		Scan(&m.SchemaVersion, &m.Fingerprint, &m.ModelName, &m.Dims, &items, &m.HasIndex, &snapshot)
	if err != nil {
		return store.Meta{}, fmt.Errorf("read meta: %w", err)
	}
	m.ItemsVersion, m.IndexVersion = uint64(items), uint64(snapshot)
	return m, nil
}

// Len returns the number of items.
func (db *DB) Len() (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM simsearch.items").Scan(&n); err != nil {
		return 0, fmt.Errorf("count items: %w", err)
	}
	return n, nil
}

// Size returns the bytes the simsearch tables take with their indexes and
// TOAST data.
func (db *DB) Size() (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'simsearch' AND c.relkind = 'r'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	return n, nil
}

// JournalDir is where dedup runs on the database dsn are journalled: the
// journal records the moves of this machine's files, so it stays on this
// machine, under $XDG_DATA_HOME/simsearch/journal/, named for the server
// and database.
func JournalDir(dsn string) string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = home + "/.local/share"
	}
	name := "postgres"
	if u, err := url.Parse(dsn); err == nil {
		user := ""
		if u.User != nil {
			user = u.User.Username() + "@"
		}
		name = user + u.Host + u.Path
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, name)
	return base + "/simsearch/journal/" + name + ".journal"
}

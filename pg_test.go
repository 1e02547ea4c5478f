package simsearch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/pgstore"
	"github.com/simsearch/simsearch/internal/store"
)

// pgTestEnv names the DSN of the PostgreSQL server the tests use: a
// superuser's, on a server with pgvector. `make test` sets it through
// scripts/postgres.sh, which starts a throwaway cluster (and sets
// SIMSEARCH_TEST_PG_SKIP to why, where it could not).
const pgTestEnv = "SIMSEARCH_TEST_PG"

// pgSeq numbers the databases this test binary creates.
var pgSeq atomic.Int64

// testPostgres returns the DSN of a new, empty database on the test
// server, dropped when the test ends. Without a server it skips the
// test, saying why.
func testPostgres(t *testing.T) string {
	t.Helper()
	admin := pgAdmin(t)
	name := fmt.Sprintf("simsearch_test_%d_%d", os.Getpid(), pgSeq.Add(1))
	pgExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() { pgExec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return withDatabase(t, admin, name)
}

// pgAdmin is the test server's DSN, or skips.
func pgAdmin(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(pgTestEnv)
	if admin == "" {
		why := os.Getenv("SIMSEARCH_TEST_PG_SKIP")
		if why == "" {
			why = pgTestEnv + " is not set (make test sets it: scripts/postgres.sh starts a throwaway server)"
		}
		t.Skip("no PostgreSQL server: " + why)
	}
	return admin
}

// withDatabase is dsn naming database name instead.
func withDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// pgExec runs statements on dsn's database.
func pgExec(t *testing.T, dsn string, sql ...string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range sql {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestPostgres_SameResultsAsBbolt indexes the sample photos into a bbolt
// file and a PostgreSQL database with the same model: the same items are
// stored, every query returns the same photos with the same scores, and
// dedup finds the same groups.
func TestPostgres_SameResultsAsBbolt(t *testing.T) {
	dsn := testPostgres(t)
	dir := copyPhotos(t)
	engines := map[string]*Engine{}
	for name, db := range map[string]string{"bbolt": filepath.Join(t.TempDir(), "s.db"), "postgres": dsn} {
		e := openTestEngine(t, db)
		sum, err := e.Index(context.Background(), []string{dir}, nil)
		if err != nil {
			t.Fatalf("%s: index: %v", name, err)
		}
		if sum.Added == 0 {
			t.Fatalf("%s: index added nothing", name)
		}
		engines[name] = e
	}
	bolt := engines["bbolt"]
	// A fresh engine, which has not loaded the index as the index run did.
	pg := openTestEngine(t, dsn)
	items := func(e *Engine) map[string]Item {
		out := map[string]Item{}
		if err := e.db.ForEachItem(func(it Item) error { it.ID = 0; out[it.Path] = it; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	stored := items(bolt)
	if b := items(pg); !reflect.DeepEqual(stored, b) {
		t.Fatalf("stored items differ:\nbbolt    %+v\npostgres %+v", stored, b)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		q := filepath.Join(dir, f.Name())
		a, errA := bolt.Query(context.Background(), q, &QueryOptions{K: 5})
		b, errB := pg.Query(context.Background(), q, &QueryOptions{K: 5})
		if errA != nil || errB != nil {
			t.Fatalf("query %s: bbolt %v, postgres %v", f.Name(), errA, errB)
		}
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("query %s: %d results on bbolt, %d on postgres", f.Name(), len(a), len(b))
		}
		if !sameRanked(a, b) {
			t.Errorf("query %s:\nbbolt    %q\npostgres %q", f.Name(), ranked(a), ranked(b))
		}
	}
	if pg.indexLoaded() {
		t.Error("queries on PostgreSQL loaded the index snapshot and the vectors instead of searching on the server")
	}
	// The index run tuned the server's search breadth for what it stored.
	tu, err := pg.backend().(serverSearcher).Tuning(context.Background())
	if err != nil || tu.Size != len(stored) || tu.Target != index.DefaultTargetRecall || tu.Ef <= 0 {
		t.Fatalf("server tuning after the index run: %+v, %v; want one at %d items", tu, err, len(stored))
	}
	da, errA := bolt.FindDuplicates(context.Background(), nil, nil)
	db, errB := pg.FindDuplicates(context.Background(), nil, nil)
	if errA != nil || errB != nil {
		t.Fatalf("dedup: bbolt %v, postgres %v", errA, errB)
	}
	if len(da.Groups) == 0 || !reflect.DeepEqual(resultGroups(da), resultGroups(db)) {
		t.Fatalf("dedup groups: bbolt %v, postgres %v", resultGroups(da), resultGroups(db))
	}
	for _, e := range engines {
		e.Close()
	}
	// The snapshot the index run saved is current when opened again.
	e := openTestEngine(t, dsn)
	defer e.Close()
	st, err := e.Stats()
	if err != nil || st.Items != len(stored) || st.ServerTuning == nil || *st.ServerTuning != tu {
		t.Fatalf("stats on postgres: %+v, %v; want the server tuning %+v", st, err, tu)
	}
}

// ranked is "score path" per match, ties (exact copies) in path order:
// which of two equal scores comes first depends on the ids, which the
// pipeline's order assigns.
func ranked(ms []Match) []string {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b Match) int {
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return strings.Compare(a.Path, b.Path)
	})
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%.6f %s", m.Score, filepath.Base(m.Path))
	}
	return out
}

// sameRanked reports whether a and b hold the same photos in the same
// ranked order with scores within 1e-5: the server computes the cosines
// in another order of sums than this process (1e-6 apart).
func sameRanked(a, b []Match) bool {
	ra, rb := ranked(a), ranked(b)
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		var sa, sb float64
		var pa, pb string
		fmt.Sscanf(ra[i], "%f %s", &sa, &pa)
		fmt.Sscanf(rb[i], "%f %s", &sb, &pb)
		if pa != pb || math.Abs(sa-sb) > 1e-5 {
			return false
		}
	}
	return true
}

// resultGroups is each group's keeper and sorted members, groups sorted.
func resultGroups(r DedupResult) []string {
	var out []string
	for _, g := range r.Groups {
		var ps []string
		for _, m := range g.Members {
			ps = append(ps, filepath.Base(m.Path))
		}
		slices.Sort(ps)
		out = append(out, filepath.Base(g.Keeper.Path)+": "+strings.Join(ps, " "))
	}
	slices.Sort(out)
	return out
}

// TestPostgres_DedupUndo: dedup deletes copies (to the trash) and forgets
// them in the server database, journalled on this machine, and undo puts
// every file back.
func TestPostgres_DedupUndo(t *testing.T) {
	dsn := testPostgres(t)
	share := t.TempDir()
	t.Setenv("XDG_DATA_HOME", share)
	photos := copyPhotos(t)
	e := openTestEngine(t, dsn)
	defer e.Close()
	ctx := context.Background()
	if _, err := e.Index(ctx, []string{photos}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.FindDuplicates(ctx, nil, nil)
	if err != nil || len(res.Groups) == 0 {
		t.Fatalf("FindDuplicates = %d groups, %v", len(res.Groups), err)
	}
	before, _ := e.db.Len()
	out, err := e.ActOnDuplicates(ctx, res.Groups, dedup.ActOptions{Action: dedup.Delete, HomeTrash: filepath.Join(share, "Trash"), Yes: true}, nil)
	if err != nil || len(out.Changed) == 0 {
		t.Fatalf("ActOnDuplicates = %+v, %v", out, err)
	}
	if dir := e.JournalDir(); !strings.HasPrefix(dir, share) {
		t.Fatalf("journal in %s, not under XDG_DATA_HOME", dir)
	}
	if after, _ := e.db.Len(); after != before-len(out.Changed) {
		t.Fatalf("%d items after deleting %d of %d", after, len(out.Changed), before)
	}
	for _, p := range out.Changed {
		if _, ok, _ := e.db.ItemByPath(p); ok {
			t.Errorf("%s deleted, still in the database", p)
		}
	}
	undo, err := e.UndoRun(ctx, out.RunID, nil)
	if err != nil || len(undo.Problems) > 0 || len(undo.Restored) != len(out.Changed) {
		t.Fatalf("undo: %+v, %v", undo, err)
	}
	for _, p := range out.Changed {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("undo did not restore %s: %v", p, err)
		}
	}
}

// TestPostgres_ReadReplica: a read-only engine reads the streaming
// replica scripts/postgres.sh starts (SIMSEARCH_TEST_PG_REPLICA) and
// answers as the primary does; with the replica down it says so and
// reads the primary.
func TestPostgres_ReadReplica(t *testing.T) {
	admin := pgAdmin(t)
	standby := os.Getenv("SIMSEARCH_TEST_PG_REPLICA")
	if standby == "" {
		t.Skip("no streaming replica: SIMSEARCH_TEST_PG_REPLICA is not set (scripts/postgres.sh starts one)")
	}
	// Every commit of this test waits until the replica has applied it,
	// so that it can be read there at once.
	applied := admin + "&synchronous_commit=remote_apply"
	name := fmt.Sprintf("simsearch_test_%d_%d", os.Getpid(), pgSeq.Add(1))
	pgExec(t, applied, "CREATE DATABASE "+name)
	t.Cleanup(func() { pgExec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	primary, replica := withDatabase(t, applied, name), withDatabase(t, standby, name)

	photos := copyPhotos(t)
	e := openTestEngine(t, primary)
	if _, err := e.Index(context.Background(), []string{photos}, nil); err != nil {
		t.Fatal(err)
	}
	e.Close()
	query := filepath.Join(photos, "cat.jpg")
	open := func(readDB string) (*Engine, string) {
		t.Helper()
		var log strings.Builder
		e, err := Open(context.Background(), &Options{DB: primary, ReadDB: readDB, ReadOnly: true,
			ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e, log.String()
	}
	want := func(e *Engine) []string {
		t.Helper()
		ms, err := e.Query(context.Background(), query, &QueryOptions{K: 5})
		if err != nil || len(ms) == 0 {
			t.Fatalf("query on %s: %d results, %v", e.Path(), len(ms), err)
		}
		return ranked(ms)
	}
	onPrimary, _ := open("")
	fromReplica, log := open(replica)
	if fromReplica.Path() != pgstore.Redact(replica) || strings.Contains(log, "not used") {
		t.Fatalf("the engine reads %s (log %q), not the replica", fromReplica.Path(), log)
	}
	if a, b := want(onPrimary), want(fromReplica); !slices.Equal(a, b) {
		t.Fatalf("query results:\nprimary %q\nreplica %q", a, b)
	}
	if fromReplica.indexLoaded() {
		t.Error("the query on the replica loaded the index instead of searching on the server")
	}
	u, err := url.Parse(replica)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1" // nothing listens
	down := u.String()
	fellBack, log := open(down)
	if fellBack.Path() != onPrimary.Path() || !strings.Contains(log, "not used") || !strings.Contains(log, "connection refused") {
		t.Fatalf("with the replica down the engine reads %s, log %q", fellBack.Path(), log)
	}
	if a, b := want(onPrimary), want(fellBack); !slices.Equal(a, b) {
		t.Fatalf("query results:\nprimary %q\nfallback %q", a, b)
	}
}

// TestPostgres_BadInput: each way a server database can be wrong is one
// line that says what to do.
func TestPostgres_BadInput(t *testing.T) {
	admin := pgAdmin(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	opts := storageOptions{Fingerprint: "fp-1", ModelName: "m/rmac", Dims: 4}

	// A role that may not create extensions, owning a database without one.
	role := fmt.Sprintf("simsearch_plain_%d_%d", os.Getpid(), pgSeq.Add(1))
	bare := role + "_db"
	pgExec(t, admin, "CREATE ROLE "+role+" LOGIN PASSWORD 'plain-secret'", "CREATE DATABASE "+bare+" OWNER "+role+" TEMPLATE template0")
	t.Cleanup(func() { pgExec(t, admin, "DROP DATABASE IF EXISTS "+bare+" WITH (FORCE)", "DROP ROLE IF EXISTS "+role) })
	plain := *u
	plain.User = url.UserPassword(role, "plain-secret")
	plain.Path = "/" + bare

	wrong := *u
	wrong.User = url.UserPassword(u.User.Username(), "not-the-password")

	unreachable := *u
	unreachable.Host = "127.0.0.1:1"

	newer := testPostgres(t)
	s, err := openStore(newer, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	pgExec(t, newer, "UPDATE simsearch.meta SET schema_version = 99")

	for _, c := range []struct {
		name, dsn string
		want      []string // in the message
		is        error
	}{
		{"unreachable", unreachable.String(), []string{"cannot reach PostgreSQL at 127.0.0.1:1", "connection refused", "start the server"}, nil},
		{"wrong password", wrong.String(), []string{"refused user", "check the user and password"}, nil},
		{"no vector extension", plain.String(), []string{"lacks the vector extension", "CREATE EXTENSION vector"}, nil},
		{"newer schema", newer, []string{"schema version 99"}, ErrSchemaTooNew},
		{"no database", withDatabase(t, admin, "simsearch_no_such_db"), []string{"has no database", "createdb"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := openStore(c.dsn, opts)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message of more than one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%v is not %v", err, c.is)
			}
			for _, secret := range []string{"not-the-password", "plain-secret"} {
				if strings.Contains(msg, secret) {
					t.Errorf("message shows the password: %q", msg)
				}
			}
		})
	}

	// A query on a database never indexed into is "no database", as for
	// a missing file, and creates nothing.
	empty := testPostgres(t)
	if _, err := openStore(empty, storageOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a database without tables: %v, want fs.ErrNotExist", err)
	}
}

// TestPostgres_ConcurrentWriters: two handles (as two machines) put the
// same paths at once; each path is stored once, under one id.
func TestPostgres_ConcurrentWriters(t *testing.T) {
	dsn := testPostgres(t)
	opts := storageOptions{Fingerprint: "fp-1", Dims: 4}
	var dbs [2]storage
	for i := range dbs {
		s, err := openStore(dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		dbs[i] = s
	}
	const n = 200
	ids := make([][]uint64, len(dbs))
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for w := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 20 {
				var recs []store.Record
				for j := i; j < i+20; j++ {
					recs = append(recs, testRecord(fmt.Sprintf("/p/%03d.jpg", j), 4, float32(j+w)))
				}
				got, err := dbs[w].Put(recs)
				if err != nil {
					errs[w] = err
					return
				}
				ids[w] = append(ids[w], got...)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := dbs[0].Len(); got != n {
		t.Fatalf("Len = %d after two writers put the same %d paths", got, n)
	}
	if !reflect.DeepEqual(ids[0], ids[1]) {
		t.Fatalf("the writers got different ids for the same paths: %v and %v", ids[0][:5], ids[1][:5])
	}
}

// TestPostgres_Check: what Check finds in a server database and what the
// repair and the salvage mend.
func TestPostgres_Check(t *testing.T) {
	dsn := testPostgres(t)
	s, err := openStore(dsn, storageOptions{Fingerprint: "fp-1", Dims: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.Put([]store.Record{testRecord("/p/a.jpg", 4, 1), testRecord("/p/b.jpg", 4, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// A vector that is not of unit length, as damage would leave it.
	pgExec(t, dsn, fmt.Sprintf("UPDATE simsearch.items SET v = '[3,0,0,0]' WHERE id = %d", ids[1]))
	problems, err := s.Check(checkOptions())
	if err != nil || len(problems) != 1 || problems[0].Kind != store.BadRecord || problems[0].Path != "/p/b.jpg" {
		t.Fatalf("Check = %+v, %v; want the item of /p/b.jpg", problems, err)
	}
	rep, err := s.RepairInPlace(checkOptions())
	if err != nil || !reflect.DeepEqual(rep.Items, []uint64{ids[1]}) {
		t.Fatalf("RepairInPlace = %+v, %v", rep, err)
	}
	if n, _ := s.Len(); n != 1 {
		t.Fatalf("Len = %d after the repair, want 1", n)
	}
	// The HNSW index gone: Damaged, which the salvage mends.
	pgExec(t, dsn, "DROP INDEX simsearch.items_h_hnsw")
	problems, _ = s.Check(checkOptions())
	if len(problems) != 1 || problems[0].Kind != store.Damaged {
		t.Fatalf("Check without the HNSW index = %+v", problems)
	}
	if _, err := s.RepairInPlace(checkOptions()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RepairInPlace without the HNSW index: %v, want ErrCorrupt", err)
	}
	if sr, err := s.SalvageInPlace(checkOptions()); err != nil || sr.Items != 1 {
		t.Fatalf("SalvageInPlace = %+v, %v", sr, err)
	}
	if problems, err := s.Check(checkOptions()); len(problems) != 0 || err != nil {
		t.Fatalf("Check after the salvage = %+v, %v", problems, err)
	}
}

// TestPostgres_Redacted: the password never reaches the database's name,
// which messages and plans show.
func TestPostgres_Redacted(t *testing.T) {
	dsn := "postgres://u:s3cret@db.invalid:5432/photos?sslmode=disable&password=s3cret"
	for _, got := range []string{pgstore.Redact(dsn), mustName(t, dsn), journalDir(dsn)} {
		if strings.Contains(got, "s3cret") {
			t.Errorf("%q shows the password", got)
		}
		if !strings.Contains(got, "photos") {
			t.Errorf("%q does not name the database", got)
		}
	}
	if !IsServerDatabase(dsn) || IsServerDatabase("/var/lib/postgres/simsearch.db") {
		t.Error("IsServerDatabase tells URLs from files wrongly")
	}
	if _, _, err := Compact(dsn, 0); err == nil || !strings.Contains(err.Error(), "autovacuum") {
		t.Errorf("Compact of a server database: %v", err)
	}
}

func mustName(t *testing.T, db string) string {
	t.Helper()
	n, err := databaseName(db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

package simsearch

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// openWorker opens an engine on db as one indexing machine would: its
// own model, one ONNX Runtime thread.
func openWorker(t *testing.T, db string, log io.Writer) *Engine {
	t.Helper()
	rt := openRuntime(t)
	randomModel(t, rt)
	if log == nil {
		log = io.Discard
	}
	e, err := Open(context.Background(), &Options{DB: db, Log: log,
		ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random", Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// pgRows counts the rows a query returns on dsn's database.
func pgCount(t *testing.T, dsn, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// storedOnce checks that dsn's database holds each of the photos under
// dir once (and nothing else), and that its work queue is empty.
func storedOnce(t *testing.T, dsn, dir string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.items"); n != len(files) {
		t.Errorf("%d items for %d photos", n, len(files))
	}
	if n := pgCount(t, dsn, "SELECT count(DISTINCT path) FROM simsearch.items"); n != len(files) {
		t.Errorf("%d distinct paths for %d photos", n, len(files))
	}
	for _, p := range files {
		if n := pgCount(t, dsn, fmt.Sprintf("SELECT count(*) FROM simsearch.items WHERE path = '%s'::bytea", p)); n != 1 {
			t.Errorf("%s stored %d times", p, n)
		}
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.work"); n != 0 {
		t.Errorf("%d files left in the work queue", n)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.failures"); n != 0 {
		t.Errorf("%d failures recorded", n)
	}
}

// TestPostgres_TwoWorkersEmbedOnce: two index runs (as on two machines,
// one ONNX Runtime thread each) into one database at the same time
// share the tree: every photo is stored once, the photos the two say
// they embedded add up to the tree (none embedded twice), the workers'
// records in the status say the same, and queries answer as on a bbolt
// database built from the same tree.
func TestPostgres_TwoWorkersEmbedOnce(t *testing.T) {
	dsn := testPostgres(t)
	photos := photoSet(t, 0, 2)
	files, err := os.ReadDir(photos)
	if err != nil {
		t.Fatal(err)
	}
	workers := []*Engine{openWorker(t, dsn, nil), openWorker(t, dsn, nil)}
	sums := make([]IndexSummary, len(workers))
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, e := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = e.Index(context.Background(), []string{photos}, &IndexOptions{BatchSize: 4})
		}()
	}
	wg.Wait()
	embedded := 0
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i+1, errs[i])
		}
		t.Logf("worker %d embedded %d (%d added, %d updated) in %s", i+1, sums[i].Added+sums[i].Updated, sums[i].Added, sums[i].Updated, sums[i].Elapsed)
		embedded += sums[i].Added + sums[i].Updated
	}
	if embedded != len(files) {
		t.Fatalf("the workers embedded %d photos for %d: some twice or none", embedded, len(files))
	}
	storedOnce(t, dsn, photos)
	st, err := workers[0].WorkStatus()
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, w := range st.Workers {
		stored += w.Stored
	}
	if st.Items != len(files) || st.Queued+st.Claimed != 0 || len(st.Workers) != 2 || stored != int64(len(files)) {
		t.Fatalf("status after the runs: %+v", st)
	}
	for _, e := range workers {
		e.Close()
	}

	bolt := openWorker(t, filepath.Join(t.TempDir(), "s.db"), nil)
	if _, err := bolt.Index(context.Background(), []string{photos}, nil); err != nil {
		t.Fatal(err)
	}
	pg := openWorker(t, dsn, nil)
	if rep, err := pg.Check(false); err != nil || !rep.OK() {
		t.Fatalf("check after two workers: %+v, %v", rep.Problems, err)
	}
	for _, f := range files[:8] {
		q := filepath.Join(photos, f.Name())
		a, errA := bolt.Query(context.Background(), q, &QueryOptions{K: 5})
		b, errB := pg.Query(context.Background(), q, &QueryOptions{K: 5})
		if errA != nil || errB != nil || len(a) == 0 {
			t.Fatalf("query %s: bbolt %d, %v; postgres %v", f.Name(), len(a), errA, errB)
		}
		if !sameRanked(a, b) {
			t.Errorf("query %s:\nbbolt    %q\npostgres %q", f.Name(), ranked(a), ranked(b))
		}
	}
}

// pgSnapshot is every item (without its id) and vector of dsn's database,
// by path.
func pgSnapshot(t *testing.T, dsn string) (map[string]Item, map[string][]float32) {
	t.Helper()
	s, err := openStore(dsn, storageOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items := map[string]Item{}
	byID := map[uint64]string{}
	if err := s.ForEachItem(func(it Item) error {
		byID[it.ID] = it.Path
		it.ID = 0
		items[it.Path] = it
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	vecs := map[string][]float32{}
	if err := s.ForEachVector(func(id uint64, v []float32) error {
		vecs[byID[id]] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return items, vecs
}

// sameDatabase fails unless got holds what want does: the same items,
// vectors equal to 1e-4.
func sameDatabase(t *testing.T, want, got string) {
	t.Helper()
	wantItems, wantVecs := pgSnapshot(t, want)
	gotItems, gotVecs := pgSnapshot(t, got)
	if len(gotItems) != len(wantItems) {
		t.Fatalf("%d items, a clean run has %d", len(gotItems), len(wantItems))
	}
	for p, w := range wantItems {
		g, ok := gotItems[p]
		if !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s differs from a clean run's:\n%+v\n%+v", p, g, w)
			continue
		}
		var d float64
		for i := range wantVecs[p] {
			d = math.Max(d, math.Abs(float64(wantVecs[p][i]-gotVecs[p][i])))
		}
		if d > 1e-4 {
			t.Errorf("%s: vector differs by %g", p, d)
		}
	}
}

// lockedBuffer is a log two goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cliIndex is `simsearch index` of photos into db with a short lease.
func cliIndex(bin, db, photos string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append(append([]string{"--db", db, "--model", "vgg16-random", "--threads", "1", "index", "--quiet", "--lease", "2s"}, args...), photos)...)
	// ONNX Runtime in fp32 everywhere, so that runs agree to the bit.
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir, EngineEnv+"=ort", Int8Env+"=off")
	return cmd
}

// claimsOf lists the files process pid holds by a live lease.
func claimsOf(t *testing.T, dsn string, pid int) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT path FROM simsearch.work WHERE owner LIKE $1 AND lease_until > now()",
		fmt.Sprintf("%%/%d/%%", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var p []byte
	if _, err := pgx.ForEachRow(rows, []any{&p}, func() error { out = append(out, string(p)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond every 50 ms for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgres_KilledWorker: of two `simsearch index` processes sharing a
// database, one is killed (SIGKILL) while it holds claims, in several
// rounds, each with new photos: the other finishes the tree, the
// files the dead one held among them once their (2 s) lease ran out;
// in the last round both are killed and a restarted one finishes. No
// row is stored twice, nothing is left queued, and the database ends as
// a clean run's. status shows the work while it runs.
func TestPostgres_KilledWorker(t *testing.T) {
	bin := cliWithModel(t)
	tree := t.TempDir()
	paths, _ := samplePhotos(t)
	paths = paths[:24] // a round's photos: the two workers share them
	dsn := testPostgres(t)
	s, err := openStore(dsn, storageOptions{}) // the tables, for claimsOf
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const rounds = 3
	orphaned := 0
	for round := range rounds {
		dir := filepath.Join(tree, fmt.Sprintf("r%d", round))
		os.MkdirAll(dir, 0o755)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
		}
		a, b := cliIndex(bin, dsn, tree), cliIndex(bin, dsn, tree)
		var aOut, bOut strings.Builder
		a.Stderr, b.Stderr = &aOut, &bOut
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		var held []string
		waitFor(t, "claim of the second worker", func() bool { held = claimsOf(t, dsn, b.Process.Pid); return len(held) > 0 })
		if round == 0 {
			out, err := exec.Command(bin, "--db", dsn, "status").CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("/%d/", b.Process.Pid)) || !strings.Contains(string(out), "lease left") {
				t.Errorf("status while two workers run: %v\n%s", err, out)
			}
		}
		b.Process.Signal(syscall.SIGKILL)
		b.Wait()
		held = claimsOf(t, dsn, b.Process.Pid) // what it held when it died
		last := round == rounds-1
		if last {
			a.Process.Signal(syscall.SIGKILL)
			a.Wait()
			a = cliIndex(bin, dsn, tree)
			aOut.Reset()
			a.Stderr = &aOut
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Wait(); err != nil {
			t.Fatalf("round %d: the worker left running: %v\n%s", round, err, aOut.String())
		}
		t.Logf("round %d: the killed worker held %d files; the other finished", round, len(held))
		orphaned += len(held)
		storedOnce(t, dsn, tree) // the files it held among them
	}
	if orphaned == 0 {
		t.Fatal("no worker died holding claims: the lease was never taken over")
	}
	clean := testPostgres(t)
	if out, err := cliIndex(bin, clean, tree).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	sameDatabase(t, clean, dsn)
	check := exec.Command(bin, "--db", dsn, "check")
	check.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	out, err := check.CombinedOutput()
	if err != nil {
		t.Fatalf("check after the kills: %v\n%s", err, out)
	}
}

// TestPostgres_ServerRestart: the server stops during an index run and
// starts again: the run says so on one line, retries, says when the
// server is back, and finishes with every photo stored once. It runs its
// own cluster (SIMSEARCH_TEST_PG_BIN, from scripts/postgres.sh), so that
// other tests' server stays up.
func TestPostgres_ServerRestart(t *testing.T) {
	pgAdmin(t)
	bin := os.Getenv("SIMSEARCH_TEST_PG_BIN")
	if bin == "" {
		t.Skip("SIMSEARCH_TEST_PG_BIN is not set (scripts/postgres.sh sets it to the server's programs)")
	}
	ctl := startCluster(t, bin)
	photos := photoSet(t, 0, 2)
	var log lockedBuffer
	e := openWorker(t, ctl.dsn, &log)
	done := make(chan error, 1)
	var sum IndexSummary
	go func() {
		var err error
		sum, err = e.Index(context.Background(), []string{photos}, &IndexOptions{BatchSize: 4})
		done <- err
	}()
	waitFor(t, "stored item", func() bool { return pgCount(t, ctl.dsn, "SELECT count(*) FROM simsearch.items") > 0 })
	ctl.run(t, "stop", "-m", "fast")
	waitFor(t, "report of the outage", func() bool { return strings.Contains(log.String(), "unavailable") })
	ctl.run(t, "-l", filepath.Join(filepath.Dir(ctl.data), "server.log"), "start")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("index across the restart: %v\nlog:\n%s", err, log.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("index not done 5 minutes after the restart; log:\n%s", log.String())
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	var down, back int
	for _, l := range lines {
		if strings.Contains(l, "is unavailable (") && strings.Contains(l, "retrying") {
			down++
		}
		if strings.Contains(l, "is back after") {
			back++
		}
	}
	if down != 1 || back != 1 {
		t.Errorf("the outage reported %d times, its end %d times; want once each:\n%s", down, back, log.String())
	}
	t.Logf("log:\n%s", log.String())
	storedOnce(t, ctl.dsn, photos)
	files, _ := os.ReadDir(photos)
	if sum.Added > len(files) {
		t.Errorf("the summary says %d added for %d photos", sum.Added, len(files))
	}
}

// cluster is a throwaway PostgreSQL server of one test.
type cluster struct {
	bin, data, dsn string
	opts           string // the server's options, which pg_ctl start takes again
}

// startCluster starts a cluster in a new folder on a free loopback port,
// as the postgres user when running as root; the test's end stops it.
func startCluster(t *testing.T, bin string) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "simsearch-restart-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c := &cluster{bin: bin, data: filepath.Join(dir, "db")}
	user := "postgres"
	if os.Getuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	} else if u := os.Getenv("USER"); u != "" {
		user = u
	}
	c.exec(t, filepath.Join(bin, "initdb"), "-D", c.data, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off", port, dir)
	c.opts = opts
	c.run(t, "-l", filepath.Join(dir, "server.log"), "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "stop").Run()
		exec.Command(filepath.Join(bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	c.dsn = fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", user, port)
	return c
}

// run runs pg_ctl on the cluster, waiting for it.
func (c *cluster) run(t *testing.T, args ...string) {
	t.Helper()
	c.exec(t, filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data, "-w", "-o", c.opts}, args...)...)
}

// exec runs a server program, as the postgres user when root.
func (c *cluster) exec(t *testing.T, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	if os.Getuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
}

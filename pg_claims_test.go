package simsearch

import (
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

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
// dir once, and that its work queue is empty.
func storedOnce(t *testing.T, dsn, dir string) {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.items"); n != len(files) {
		t.Errorf("%d items for %d photos", n, len(files))
	}
	if n := pgCount(t, dsn, "SELECT count(DISTINCT path) FROM simsearch.items"); n != len(files) {
		t.Errorf("%d distinct paths for %d photos", n, len(files))
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
		if ra, rb := ranked(a), ranked(b); !slices.Equal(ra, rb) {
			t.Errorf("query %s:\nbbolt    %q\npostgres %q", f.Name(), ra, rb)
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
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	return cmd
}

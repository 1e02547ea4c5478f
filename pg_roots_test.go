package simsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/simsearch/simsearch/internal/pgstore"
)

// mountCopy copies the files of dir into a new folder with their
// modification times, as a second machine sees a share: the same files
// at another path.
func mountCopy(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "mnt", "share")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ents {
		src := filepath.Join(dir, d.Name())
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(src)
		p := filepath.Join(dst, d.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// openRootedWorker is openWorker with named roots.
func openRootedWorker(t *testing.T, db string, log io.Writer, roots ...Root) *Engine {
	t.Helper()
	rt := openRuntime(t)
	randomModel(t, rt)
	e, err := Open(context.Background(), &Options{DB: db, Log: log, Roots: roots,
		ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random", Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestPostgres_RootsTwoMounts: two machines mount one share at different
// paths and name it photos; indexing at the same time, they store every
// file once, by the root's name, and each one's queries give the files
// under its own mount.
func TestPostgres_RootsTwoMounts(t *testing.T) {
	dsn := testPostgres(t)
	mountA := photoSet(t, 10, 1)
	mountB := mountCopy(t, mountA)
	files, err := os.ReadDir(mountA)
	if err != nil {
		t.Fatal(err)
	}
	mounts := []string{mountA, mountB}
	workers := make([]*Engine, 2)
	for i, m := range mounts {
		workers[i] = openRootedWorker(t, dsn, io.Discard, Root{"photos", m})
	}
	sums := make([]IndexSummary, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, e := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = e.Index(context.Background(), []string{mounts[i]}, &IndexOptions{BatchSize: 2})
		}()
	}
	wg.Wait()
	embedded := 0
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i+1, errs[i])
		}
		t.Logf("worker %d embedded %d, removed %d", i+1, sums[i].Added+sums[i].Updated, sums[i].Removed)
		embedded += sums[i].Added + sums[i].Updated
		if sums[i].Removed != 0 {
			t.Errorf("worker %d removed %d items", i+1, sums[i].Removed)
		}
	}
	if embedded != len(files) {
		t.Errorf("the workers embedded %d photos for %d", embedded, len(files))
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.items"); n != len(files) {
		t.Errorf("%d items for %d photos", n, len(files))
	}
	for _, f := range files {
		q := fmt.Sprintf("SELECT count(*) FROM simsearch.items WHERE path = 'photos:%s'::bytea", f.Name())
		if n := pgCount(t, dsn, q); n != 1 {
			t.Errorf("photos:%s stored %d times", f.Name(), n)
		}
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.work") + pgCount(t, dsn, "SELECT count(*) FROM simsearch.failures"); n != 0 {
		t.Errorf("%d rows left in the work queue and failures", n)
	}
	// Each side's queries: its own paths, the same files in the same order.
	var want []string
	for i, e := range workers {
		// The other side's items since this one's index last caught up.
		if err := e.Refresh(); err != nil {
			t.Fatal(err)
		}
		ms, err := e.Query(context.Background(), filepath.Join(mounts[i], files[0].Name()), &QueryOptions{K: 5, MinScore: -2})
		if err != nil || len(ms) != 5 {
			t.Fatalf("query on side %d: %d matches, %v", i+1, len(ms), err)
		}
		var rel []string
		for _, m := range ms {
			if !under(m.Path, mounts[i]) {
				t.Errorf("side %d: match %s is not under its mount %s", i+1, m.Path, mounts[i])
			}
			rel = append(rel, fmt.Sprintf("%s %.4f", filepath.Base(m.Path), m.Score))
		}
		if i == 0 {
			want = rel
		} else if !slices.Equal(rel, want) {
			t.Errorf("the two sides' results differ:\n%q\n%q", want, rel)
		}
	}

	// A third machine that does not name the root indexes a folder of its
	// own, and one that holds the mount's path without the files: the
	// share's items are kept, and shown as stored.
	var log bytes.Buffer
	c := openRootedWorker(t, dsn, &log)
	other := photoSet(t, 1, 1)
	sum, err := c.Index(context.Background(), []string{other, t.TempDir()}, nil)
	if err != nil || sum.Added != 1 || sum.Removed != 0 {
		t.Fatalf("index on a machine without the root: %+v, %v", sum, err)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.items WHERE position(':' in convert_from(path, 'UTF8')) > 0"); n != len(files) {
		t.Errorf("%d items of the share left after an index without its root, want %d", n, len(files))
	}
	ms, err := c.Query(context.Background(), filepath.Join(mountA, files[0].Name()), &QueryOptions{K: 3, MinScore: -2})
	// (other holds a copy of files[0]: the two tie.)
	if err != nil || !slices.ContainsFunc(ms, func(m Match) bool { return m.Path == "photos:"+files[0].Name() }) {
		t.Fatalf("query without the root: %+v, %v", ms, err)
	}
	if !strings.Contains(log.String(), "root photos is not named on this machine") {
		t.Errorf("no note: %s", log.String())
	}
}

// TestPostgres_ClaimsRespectExcludes: a run claims what another run
// queued under its roots, but gives back, without counting an attempt,
// the files its own excludes leave out; the run that takes them embeds
// them.
func TestPostgres_ClaimsRespectExcludes(t *testing.T) {
	dsn := testPostgres(t)
	photos := photoSet(t, 6, 1)
	// Three of the six in a folder that one run excludes.
	raw := filepath.Join(photos, "raw")
	os.MkdirAll(raw, 0o755)
	ents, _ := os.ReadDir(photos)
	var work []pgstore.Work
	var excluded []string
	for i, d := range ents {
		if d.IsDir() {
			continue
		}
		p := filepath.Join(photos, d.Name())
		if i%2 == 0 {
			np := filepath.Join(raw, d.Name())
			if err := os.Rename(p, np); err != nil {
				t.Fatal(err)
			}
			p = np
			excluded = append(excluded, p)
		}
		st, _ := os.Stat(p)
		work = append(work, pgstore.Work{Path: p, Size: st.Size(), ModTime: st.ModTime().UnixNano()})
	}
	// The excluding run is opened first (it creates the schema); what
	// the other run's walk queued is put in the queue as it would be.
	var log bytes.Buffer
	a := openRootedWorker(t, dsn, &log)
	q, err := pgstore.Open(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := q.Enqueue(work); err != nil || n != len(work) {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	q.Close()

	sum, err := a.Index(context.Background(), []string{photos}, &IndexOptions{Exclude: []string{"raw"}, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sum.Added, len(work)-len(excluded); got != want || len(sum.Skipped) != 0 {
		t.Fatalf("the excluding run added %d (want %d), skipped %v", got, want, sum.Skipped)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.items WHERE position('/raw/' in convert_from(path, 'UTF8')) > 0"); n != 0 {
		t.Errorf("the excluding run stored %d excluded files", n)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.work WHERE owner IS NULL AND lease_until IS NULL AND attempts = 0"); n != len(excluded) {
		t.Errorf("%d excluded files given back without an attempt, want %d", n, len(excluded))
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM simsearch.failures"); n != 0 {
		t.Errorf("%d failures recorded", n)
	}

	b := openRootedWorker(t, dsn, io.Discard)
	sum, err = b.Index(context.Background(), []string{photos}, &IndexOptions{BatchSize: 2})
	if err != nil || sum.Added != len(excluded) {
		t.Fatalf("the other run added %d (want %d), %v", sum.Added, len(excluded), err)
	}
	storedOnce(t, dsn, photos)
	if strings.Contains(log.String(), "unavailable") {
		t.Errorf("log: %s", log.String())
	}
}

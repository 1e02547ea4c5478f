package pgstore

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/simsearch/simsearch/internal/store"
)

// openWorkers opens n handles on one new database: n workers.
func openWorkers(t *testing.T, n int) []*DB {
	t.Helper()
	dsn := testDSN(t)
	var dbs []*DB
	for range n {
		db, err := Open(dsn, &Options{Dims: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return dbs
}

func workPaths(ws []Work) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Path)
	}
	return out
}

func queue(paths ...string) []Work {
	var ws []Work
	for i, p := range paths {
		ws = append(ws, Work{Path: p, Size: int64(10 + i), ModTime: int64(100 + i)})
	}
	return ws
}

func record(w Work) store.Record {
	return store.Record{Item: store.Item{Path: w.Path, Size: w.Size, ModTime: w.ModTime, Format: "jpeg"}, Vector: []float32{1, 0}}
}

// TestClaims_EachFileToOneWorker: a queued file is claimed by one worker;
// a store takes it off the queue, and a file stored at the size and time
// queued is not queued again.
func TestClaims_EachFileToOneWorker(t *testing.T) {
	dbs := openWorkers(t, 2)
	a, b := dbs[0], dbs[1]
	files := queue("/r/0.jpg", "/r/1.jpg", "/r/2.jpg", "/r/3.jpg", "/r/4.jpg")
	if n, err := a.Enqueue(files); n != 5 || err != nil {
		t.Fatalf("Enqueue = %d, %v", n, err)
	}
	if n, err := b.Enqueue(files); n != 0 || err != nil {
		t.Fatalf("Enqueue of queued files = %d, %v; want 0", n, err)
	}
	ca, err := a.Claim(3, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Claim(10, time.Hour, []string{"/r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ca) != 3 || len(cb) != 2 {
		t.Fatalf("claims: %v and %v", workPaths(ca), workPaths(cb))
	}
	for _, w := range ca {
		if slices.Contains(workPaths(cb), w.Path) {
			t.Fatalf("%s claimed by both", w.Path)
		}
	}
	// A worker claiming again gets back what it holds (a batch it failed
	// to store), never another's.
	if again, err := a.Claim(10, time.Hour, nil); err != nil || !slices.Equal(workPaths(again), workPaths(ca)) {
		t.Fatalf("a claims again %v, %v; want %v", workPaths(again), err, workPaths(ca))
	}
	if _, err := b.Put([]store.Record{record(cb[0]), record(cb[1])}); err != nil {
		t.Fatal(err)
	}
	if more, err := b.Claim(10, time.Hour, nil); err != nil || len(more) != 0 {
		t.Fatalf("b claims %v, %v after storing its files; want none", workPaths(more), err)
	}
	if n, next, err := b.Pending(nil); err != nil || n != 3 || next <= 0 || next > time.Hour {
		t.Fatalf("Pending = %d, %s, %v; want a's 3 for up to an hour", n, next, err)
	}
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 0 || st.Claimed != 3 || len(st.Workers) != 2 {
		t.Fatalf("Status = %+v", st)
	}
	for _, w := range st.Workers {
		want := map[string][2]int64{a.Owner(): {3, 0}, b.Owner(): {0, 2}}[w.Owner]
		if int64(w.Claimed) != want[0] || w.Stored != want[1] {
			t.Errorf("worker %s: %d claimed, %d stored; want %v", w.Owner, w.Claimed, w.Stored, want)
		}
	}
	// Stored at the size and time queued: not queued again; changed: queued.
	if n, err := a.Enqueue(cb); n != 0 || err != nil {
		t.Fatalf("Enqueue of stored files = %d, %v; want 0", n, err)
	}
	changed := cb[0]
	changed.ModTime++
	if n, err := a.Enqueue([]Work{changed}); n != 1 || err != nil {
		t.Fatalf("Enqueue of a changed file = %d, %v; want 1", n, err)
	}
}

// TestClaims_ShareTheEnd: with fewer than 4n files free a claim takes a
// quarter of them (at least minClaim), so that workers share a tree's end.
func TestClaims_ShareTheEnd(t *testing.T) {
	dbs := openWorkers(t, 8) // one claim each: a worker claiming again takes back its own
	var files []string
	for i := range 40 {
		files = append(files, fmt.Sprintf("/r/%02d.jpg", i))
	}
	if _, err := dbs[0].Enqueue(queue(files...)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{10, 7, 5, 4, 4, 4, 4, 2} { // of 40, 30, 23, 18, 14, 10, 6, 2
		got, err := dbs[i].Claim(32, time.Hour, nil)
		if err != nil || len(got) != want {
			t.Fatalf("claimed %d, %v; want %d", len(got), err, want)
		}
	}
}

// TestClaims_LeaseRunsOut: the claims of a worker that stopped renewing
// go to another once their lease runs out, each time counting an
// attempt; a file claimed MaxAttempts times becomes a failure.
func TestClaims_LeaseRunsOut(t *testing.T) {
	dbs := openWorkers(t, 2)
	a, b := dbs[0], dbs[1]
	if _, err := a.Enqueue(queue("/r/x.jpg")); err != nil {
		t.Fatal(err)
	}
	owners := []*DB{a, b}
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		w := owners[attempt%2]
		got, err := w.Claim(10, time.Hour, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("attempt %d: claim %v, %v", attempt, workPaths(got), err)
		}
		other := owners[(attempt+1)%2]
		if more, _ := other.Claim(10, time.Hour, nil); len(more) != 0 {
			t.Fatalf("attempt %d: a live claim taken by another: %v", attempt, workPaths(more))
		}
		if err := w.Renew(-time.Second); err != nil { // the lease runs out now
			t.Fatal(err)
		}
		var attempts int
		var lastErr string
		if err := a.pool.QueryRow(ctx, "SELECT attempts, last_error FROM simsearch.work").Scan(&attempts, &lastErr); err != nil {
			t.Fatal(err)
		}
		if attempts != attempt || (attempt > 1) != strings.Contains(lastErr, "ran out") {
			t.Fatalf("after claim %d: attempts %d, last error %q", attempt, attempts, lastErr)
		}
	}
	// Claimed MaxAttempts times, never stored: a failure, not claimed.
	if got, err := a.Claim(10, time.Hour, nil); err != nil || len(got) != 0 {
		t.Fatalf("claim after %d attempts: %v, %v", MaxAttempts, workPaths(got), err)
	}
	fs, err := a.Failures()
	if err != nil || len(fs) != 1 || fs[0].Path != "/r/x.jpg" || !strings.Contains(fs[0].Reason, fmt.Sprintf("claimed %d times", MaxAttempts)) {
		t.Fatalf("Failures = %+v, %v", fs, err)
	}
}

// TestClaims_RootsAndUnclaim: a worker claims only under its roots (a
// folder or a file); Unclaim hands its claims back at once, an
// interrupted run's without counting an attempt; Finish drops them.
func TestClaims_RootsAndUnclaim(t *testing.T) {
	dbs := openWorkers(t, 2)
	a, b := dbs[0], dbs[1]
	if _, err := a.Enqueue(queue("/r/a.jpg", "/r2/b.jpg", "/s/c.jpg")); err != nil {
		t.Fatal(err)
	}
	got, err := a.Claim(10, time.Hour, []string{"/r", "/s/c.jpg"})
	if err != nil || !slices.Equal(workPaths(got), []string{"/r/a.jpg", "/s/c.jpg"}) {
		t.Fatalf("claim under /r and /s/c.jpg: %v, %v", workPaths(got), err)
	}
	if err := a.Unclaim(""); err != nil {
		t.Fatal(err)
	}
	got, err = b.Claim(10, time.Hour, []string{"/s"})
	if err != nil || !slices.Equal(workPaths(got), []string{"/s/c.jpg"}) {
		t.Fatalf("claim after Unclaim: %v, %v", workPaths(got), err)
	}
	var attempts int
	if err := a.pool.QueryRow(ctx, "SELECT attempts FROM simsearch.work WHERE path = '/s/c.jpg'::bytea").Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("attempts %d, %v; an interrupted claim is not counted", attempts, err)
	}
	if err := b.Unclaim("decode: out of memory"); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	if err := a.pool.QueryRow(ctx, "SELECT attempts, last_error FROM simsearch.work WHERE path = '/s/c.jpg'::bytea").Scan(&attempts, &lastErr); err != nil || attempts != 1 || lastErr != "decode: out of memory" {
		t.Fatalf("after Unclaim with a reason: attempts %d, last error %q, %v", attempts, lastErr, err)
	}
	got, _ = a.Claim(10, time.Hour, nil)
	if err := a.Finish(workPaths(got)); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(); err != nil || st.Queued+st.Claimed != 0 {
		t.Fatalf("Status after Finish = %+v, %v", st, err)
	}
}

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("put: %w", io.ErrUnexpectedEOF), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{errors.New("decode: bad"), false},
		{nil, false},
	} {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %t", c.err, got)
		}
	}
}

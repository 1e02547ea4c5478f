package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/simsearch/simsearch/internal/pgstore"
)

// claimer is a database that several index runs share (*pgstore.DB): the
// files to embed go through its work queue, each claimed by one run for a
// lease that the run renews while it embeds, and stored (which takes the
// file off the queue) by that run alone. A run that dies leaves claims
// another takes once their lease runs out. bbolt has one writer at a
// time and does not implement it.
type claimer interface {
	Enqueue(files []pgstore.Work) (int, error)
	ClaimExcept(n int, lease time.Duration, roots, except []string) ([]pgstore.Work, error)
	GiveBack(paths []string) error
	Renew(lease time.Duration) error
	Finish(paths []string) error
	Unclaim(reason string) error
	Pending(roots []string) (n int, next time.Duration, err error)
}

var _ claimer = (*pgstore.DB)(nil)

// claimBatch is the most files one claim takes: small enough that
// several runs share a tree evenly, large enough that claiming costs
// nothing next to embedding (a VGG16 embedding takes ~0.1 s a core).
const claimBatch = 32

// pendingPoll is how often a run that found nothing to claim looks
// whether the files other runs hold were stored or came free.
const pendingPoll = time.Second

// outageLimit is how long an index run waits for a server database that
// went away before it gives up.
const outageLimit = 10 * time.Minute

// extractShared embeds files as extractInto does; on a shared database
// (a claimer) through its work queue, so that of several runs at once
// each file is embedded by one. roots bound what this run claims: the
// files other runs queued under them (and only those, which this
// machine sees at those paths) are its work too, but for those its walk
// (wo) would not take: they are given back to the runs that do.
func (e *Engine) extractShared(ctx context.Context, m *Model, roots []string, wo walkOptions, files []walkFile, o *IndexOptions, known map[string]Item, sum *IndexSummary, failures map[string]string) error {
	c, ok := e.db.(claimer)
	if !ok {
		return e.extractInto(ctx, m, files, o, known, sum, failures)
	}
	lease := o.Lease
	if lease <= 0 {
		lease = pgstore.DefaultLease
	}
	out := outage{log: e.opts.Log, name: e.db.Path()}
	queue := make([]pgstore.Work, len(files))
	for i, f := range files {
		queue[i] = pgstore.Work{Path: f.Path, Size: f.Size, ModTime: f.ModTime}
	}
	for {
		_, err := c.Enqueue(queue)
		if err = out.wait(ctx, err); err == nil {
			break
		} else if err != errRetry {
			return err
		}
	}

	hb, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the heartbeat: claims live as long as this run
		defer wg.Done()
		t := time.NewTicker(max(lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-hb.Done():
				return
			case <-t.C:
				c.Renew(lease) // an outage shows in the claims and stores
			}
		}
	}()
	defer func() { stop(); wg.Wait() }()

	bo := *o
	done := 0
	if o.Progress != nil {
		bo.Progress = func(p IndexProgress) {
			o.Progress(IndexProgress{Done: done + p.Done, Total: max(len(files), done+p.Total), Path: p.Path})
		}
	}
	size := min(o.BatchSize, claimBatch)
	var refused []string // given back: never claimed again by this run
	for {
		batch, err := c.ClaimExcept(size, lease, roots, refused)
		if err == nil {
			var back []string
			batch, back = ownWork(batch, roots, wo)
			if err = c.GiveBack(back); err == nil && len(back) > 0 {
				refused = append(refused, back...)
				if len(batch) == 0 {
					continue
				}
			}
		}
		if len(batch) == 0 && err == nil {
			var n int
			var next time.Duration
			if n, next, err = c.Pending(roots); err == nil {
				if n == 0 {
					return nil
				}
				// Others hold the rest: wait for their stores (they
				// finish it) or their lease to run out (they died),
				// looking again every second.
				err = sleep(ctx, min(max(next, 10*time.Millisecond), pendingPoll))
				if err != nil {
					return errors.Join(err, c.Unclaim(""))
				}
				continue
			}
		}
		if err != nil {
			if err = out.wait(ctx, err); err == errRetry {
				continue
			}
			return errors.Join(err, c.Unclaim(""))
		}
		todo := make([]walkFile, len(batch))
		paths := make([]string, len(batch))
		for i, w := range batch {
			todo[i] = walkFile{Path: w.Path, Size: w.Size, ModTime: w.ModTime}
			paths[i] = w.Path
		}
		bf := map[string]string{}
		err = e.extractInto(ctx, m, todo, &bo, known, sum, bf)
		if err == nil {
			// What was not stored is a recorded failure or no photo:
			// recorded first, the claims then let go of.
			if err = e.db.PutFailures(bf); err == nil {
				err = c.Finish(paths)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return errors.Join(err, c.Unclaim(""))
			}
			if err = out.wait(ctx, err); err == errRetry {
				continue // the claims held are claimed again, with what is left
			}
			return errors.Join(err, c.Unclaim(Reason(err)))
		}
		out.back()
		for p, r := range bf {
			failures[p] = r
		}
		done += len(batch)
	}
}

// ownWork splits claimed work into what this run's walk takes (wo under
// roots: excludes, hidden files, the size floor, its own files) and what
// it gives back: files other runs queued that their walks take but this
// one would not, and files under a root not named on this machine.
func ownWork(batch []pgstore.Work, roots []string, wo walkOptions) (take []pgstore.Work, back []string) {
	for _, w := range batch {
		if walkTakes(w.Path, w.Size, roots, wo) {
			take = append(take, w)
		} else {
			back = append(back, w.Path)
		}
	}
	return take, back
}

// walkTakes reports whether the walk of roots with wo takes the file at
// path (a local path) of size bytes.
func walkTakes(path string, size int64, roots []string, wo walkOptions) bool {
	if IsStoredPath(path) || size < wo.MinSize || wo.Skip[path] {
		return false
	}
	if len(roots) == 0 {
		return true
	}
	root := rootOf(path, roots)
	if root == "" || wo.Missing && wo.Exclude.matchListed(path) {
		return false
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	if rel == "." {
		return true
	}
	// As the walk descends: each folder on the way, then the file.
	segs := strings.Split(rel, string(filepath.Separator))
	for i, seg := range segs {
		p := filepath.Join(segs[:i+1]...)
		if !wo.Hidden && strings.HasPrefix(seg, ".") || wo.Exclude.match(p) || wo.Skip[filepath.Join(root, p)] {
			return false
		}
	}
	return true
}

// errRetry says that outage.wait waited and the call is to be made again.
var errRetry = errors.New("retry")

// outage waits out a server database that cannot be used for now: it
// says so on one line when the outage starts and on one when it ends,
// and retries with a growing wait (0.5 s to 8 s) for up to outageLimit.
type outage struct {
	log   io.Writer
	name  string
	since time.Time // zero when the server answers
	next  time.Duration
}

// wait returns nil for a nil err, errRetry after waiting when err says
// the server is unavailable, and err (with context) when it is not or
// the wait is too long.
func (o *outage) wait(ctx context.Context, err error) error {
	if err == nil {
		o.back()
		return nil
	}
	if !pgstore.IsUnavailable(err) || ctx.Err() != nil {
		return err
	}
	if o.since.IsZero() {
		o.since, o.next = time.Now(), 500*time.Millisecond
		fmt.Fprintf(o.log, "%s is unavailable (%s); retrying for up to %s\n", o.name, Reason(err), outageLimit)
	} else if time.Since(o.since) > outageLimit {
		return fmt.Errorf("%s unavailable for %s: %w", o.name, time.Since(o.since).Round(time.Second), err)
	}
	if err := sleep(ctx, o.next); err != nil {
		return err
	}
	o.next = min(2*o.next, 8*time.Second)
	return errRetry
}

// back says the outage ended, if there was one.
func (o *outage) back() {
	if !o.since.IsZero() {
		fmt.Fprintf(o.log, "%s is back after %s; going on\n", o.name, time.Since(o.since).Round(100*time.Millisecond))
		o.since = time.Time{}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions configure Engine.Watch.
type WatchOptions struct {
	// Index is the walk and what is stored for every pass; List is
	// ignored. Its Progress is called during the full passes.
	Index IndexOptions
	// Settle is how long a changed file's size and modification time
	// must stay the same before it is read (a file still being copied is
	// not); 0 means one second.
	Settle time.Duration
	// Rescan is how often a full pass runs as a backstop for lost events
	// (network mounts, watch limits); 0 means 10 minutes, below 0 never.
	Rescan time.Duration
	// Events, when set, is called after every pass, from Watch's goroutine.
	Events func(WatchEvent)
}

// WatchPass says which kind of pass a WatchEvent reports.
type WatchPass string

// The passes of Engine.Watch.
const (
	WatchFirst   WatchPass = "first"   // the full pass before watching
	WatchChanges WatchPass = "changes" // settled changes seen by the watcher
	WatchRescan  WatchPass = "rescan"  // the periodic full pass
)

// WatchEvent reports one pass of Engine.Watch.
type WatchEvent struct {
	Pass    WatchPass
	Summary IndexSummary
	// Paths are the files and folders a changes pass looked at, sorted.
	Paths []string
	// Err is a problem the watcher reported (an overflowed event queue,
	// a folder that could not be watched); Watch goes on, and a full pass
	// follows an overflow.
	Err error
}

// watchState is what a changed path looked like when last seen.
type watchState struct {
	size, mtime int64
	gone        bool
	since       time.Time // when it last changed
}

// Watch indexes roots as Index does, then follows changes below them:
// files that appear or change are embedded once they have settled, files
// and folders that vanish are pruned, new folders are watched as they
// appear, and every Rescan a full pass catches what the watcher missed.
// Each pass commits before the next begins; queries from other processes
// run meanwhile as they do beside Index. A batch of changes reads and
// writes only the items of its files (a removed folder's batch reads
// them all, to find what was below it), and the index snapshot is saved
// at most every snapshotEvery after changes, by the full passes, and
// when Watch returns: a query meanwhile catches up from the stored
// vectors. Watch returns when ctx is done (with ctx's error; everything
// embedded so far is committed) or on a pass's error.
func (e *Engine) Watch(ctx context.Context, roots []string, opts *WatchOptions) (err error) {
	if err := e.needIndex(); err != nil {
		return err
	}
	var o WatchOptions
	if opts != nil {
		o = *opts
	}
	if o.Settle <= 0 {
		o.Settle = time.Second
	}
	if o.Rescan == 0 {
		o.Rescan = 10 * time.Minute
	}
	o.Index.List = false
	roots, err = absPaths(roots)
	if err != nil {
		return err
	}
	for _, r := range roots {
		if st, err := os.Stat(r); err != nil || !st.IsDir() {
			return fmt.Errorf("watch %s: not a folder", r)
		}
	}
	wo, err := o.Index.walkOptions(nil)
	if err != nil {
		return err
	}
	emit := func(ev WatchEvent) {
		if o.Events != nil {
			o.Events(ev)
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	// The batches since the last snapshot are saved on the way out.
	defer func() {
		if serr := e.saveIndex(); serr != nil {
			err = errors.Join(err, serr)
		}
		e.release()
	}()
	// Watch before the first pass, so nothing changed during it is lost.
	dirs := map[string]bool{} // the folders watched: a path of one that goes is a folder
	for _, r := range roots {
		for _, err := range watchTree(w, r, r, wo, dirs) {
			emit(WatchEvent{Pass: WatchFirst, Err: err})
		}
	}
	var lastSave time.Time // of the index snapshot
	stale := false         // batches since then
	full := func(pass WatchPass) error {
		sum, err := e.Index(ctx, roots, &o.Index)
		e.release()
		if err != nil {
			return err
		}
		lastSave, stale = time.Now(), false // a full pass saves it
		emit(WatchEvent{Pass: pass, Summary: sum})
		return nil
	}
	if err := full(WatchFirst); err != nil {
		return err
	}

	pending := map[string]*watchState{}
	note := func(path string) {
		pending[path] = observe(path, time.Now())
	}
	tick := time.NewTicker(max(o.Settle/4, 10*time.Millisecond))
	defer tick.Stop()
	var rescan <-chan time.Time
	var rescanTimer *time.Timer
	if o.Rescan > 0 {
		rescanTimer = time.NewTimer(o.Rescan)
		defer rescanTimer.Stop()
		rescan = rescanTimer.C
	}
	soon := make(chan struct{}, 1) // a full pass after an overflow
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch: the watcher stopped")
			}
			root := rootOf(ev.Name, roots)
			if root == "" || e.ownFile(ev.Name) || !watchable(ev.Name, root, wo) {
				continue
			}
			if ev.Op == fsnotify.Chmod {
				continue // no new content
			}
			if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
				if ev.Has(fsnotify.Create) {
					// A new folder (made or moved in): watch it and take
					// what is already in it.
					for _, err := range watchTree(w, root, ev.Name, wo, dirs) {
						emit(WatchEvent{Pass: WatchChanges, Err: err})
					}
					files, _, _ := walk(ctx, []string{ev.Name}, wo)
					for _, f := range files {
						if watchable(f.Path, root, wo) { // globs relative to the root
							note(f.Path)
						}
					}
				}
				continue
			}
			note(ev.Name)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch: the watcher stopped")
			}
			emit(WatchEvent{Pass: WatchChanges, Err: fmt.Errorf("watch: %w", err)})
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				select {
				case soon <- struct{}{}:
				default:
				}
			}
		case now := <-tick.C:
			if stale && now.Sub(lastSave) >= snapshotEvery {
				if err := e.saveIndex(); err != nil {
					return err
				}
				e.release()
				lastSave, stale = now, false
			}
			var ready []string
			for p, s := range pending {
				cur := observe(p, now)
				if cur.gone != s.gone || cur.size != s.size || cur.mtime != s.mtime {
					pending[p] = cur // still changing: wait again
					continue
				}
				if cur.gone || now.Sub(s.since) >= o.Settle {
					ready = append(ready, p)
				}
			}
			if len(ready) == 0 {
				continue
			}
			sort.Strings(ready)
			lo := o.Index
			lo.List, lo.Progress, lo.batch = true, nil, true
			for _, p := range ready {
				delete(pending, p)
				if dirs[p] {
					// A folder that went: its items are found by reading
					// them all.
					lo.batch = false
					forgetBelow(dirs, p)
				}
			}
			sum, err := e.Index(ctx, ready, &lo)
			e.release()
			if err != nil {
				return err
			}
			if lo.batch {
				stale = true
			} else {
				lastSave, stale = time.Now(), false
			}
			emit(WatchEvent{Pass: WatchChanges, Summary: sum, Paths: ready})
		case <-soon:
			if err := full(WatchRescan); err != nil {
				return err
			}
		case <-rescan:
			for _, r := range roots {
				for _, err := range watchTree(w, r, r, wo, dirs) {
					emit(WatchEvent{Pass: WatchRescan, Err: err})
				}
			}
			if err := full(WatchRescan); err != nil {
				return err
			}
			rescanTimer.Reset(o.Rescan)
		}
	}
}

// snapshotEvery is how often at most Watch saves the index snapshot
// after batches of changes: saving writes the whole index, so a burst of
// events must not save it once per batch.
const snapshotEvery = time.Minute

// forgetBelow deletes dir and the folders below it from dirs.
func forgetBelow(dirs map[string]bool, dir string) {
	for d := range dirs {
		if under(d, dir) {
			delete(dirs, d)
		}
	}
}

// observe is path's state now.
func observe(path string, now time.Time) *watchState {
	st, err := os.Stat(path)
	if err != nil {
		return &watchState{gone: true, since: now}
	}
	return &watchState{size: st.Size(), mtime: st.ModTime().UnixNano(), since: now}
}

// ownFile reports whether path is the database or a file beside it that
// the database writes (its lock, journals, the saved index).
func (e *Engine) ownFile(path string) bool {
	db, err := filepath.Abs(e.db.Path())
	return err == nil && strings.HasPrefix(path, db)
}

// rootOf is the root that path lies under, or "".
func rootOf(path string, roots []string) string {
	for _, r := range roots {
		if under(path, r) {
			return r
		}
	}
	return ""
}

// watchable reports whether the walk takes path below root: not in a
// hidden or excluded place.
func watchable(path, root string, wo walkOptions) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." {
		return err == nil
	}
	if !wo.Hidden {
		for _, seg := range strings.Split(rel, string(filepath.Separator)) {
			if strings.HasPrefix(seg, ".") {
				return false
			}
		}
	}
	return !wo.Exclude.match(rel)
}

// watchTree adds dir and the folders below it that the walk enters to w
// and to dirs, returning the folders that could not be watched.
func watchTree(w *fsnotify.Watcher, root, dir string, wo walkOptions, dirs map[string]bool) []error {
	var errs []error
	rootSt, err := os.Stat(root)
	var rootDev uint64
	haveDev := false
	if err == nil {
		rootDev, haveDev = deviceOf(rootSt)
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != root && !watchable(path, root, wo) {
			return fs.SkipDir
		}
		if path != root && wo.OneFileSystem && haveDev && otherDevice(d, rootDev) {
			return fs.SkipDir
		}
		if err := w.Add(path); err != nil {
			errs = append(errs, fmt.Errorf("watch %s: %w", path, err))
			return nil
		}
		dirs[path] = true
		return nil
	})
	return errs
}

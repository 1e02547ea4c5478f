package simsearch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/simsearch/simsearch/internal/pgstore"
	"github.com/simsearch/simsearch/internal/quote"
	"github.com/simsearch/simsearch/internal/store"
)

// Root names a folder on this machine (Options.Roots), so that the
// photos under it are stored by the name and their path inside it:
// machines that mount one share at different paths, or a library moved
// to another disk, then agree on its items. A file at
// /mnt/nas/photos/2020/a.jpg under the root photos=/mnt/nas/photos is
// stored as "photos:2020/a.jpg" (always with '/', never starting with
// one, so never taken for a path on any machine); files outside every
// named root are stored by their absolute paths, as before roots had
// names, so older databases keep working.
type Root struct {
	Name string // letters, digits, '.', '_' and '-', starting with a letter or digit
	Path string // the folder on this machine
}

// RootsEnv is the environment variable the CLI reads roots from when no
// --root is given: NAME=PATH entries separated by the OS's path list
// separator (':' on Unix, as in PATH), so a comma in a folder's name is
// safe; a folder whose path holds that separator is given with --root.
const RootsEnv = "SIMSEARCH_ROOTS"

// ParseRoot parses one NAME=PATH; the path may be relative to the
// working directory. Open checks that it is a folder.
func ParseRoot(spec string) (Root, error) {
	name, path, ok := strings.Cut(spec, "=")
	switch {
	case !ok:
		return Root{}, errors.New("want NAME=PATH, a name for the folder at PATH")
	case name == "":
		return Root{}, errors.New("no name before '='")
	case path == "":
		return Root{}, errors.New("no folder after '='")
	}
	if err := checkRootName(name); err != nil {
		return Root{}, err
	}
	return Root{Name: name, Path: path}, nil
}

// ParseRootList parses RootsEnv's value: NAME=PATH entries separated by
// filepath.ListSeparator, empty entries skipped.
func ParseRootList(list string) ([]Root, error) {
	var roots []Root
	for _, spec := range filepath.SplitList(list) {
		if spec == "" {
			continue
		}
		r, err := ParseRoot(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", quote.Path(spec), err)
		}
		roots = append(roots, r)
	}
	return roots, nil
}

func checkRootName(name string) error {
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !letter && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("root name %s: use letters, digits, '.', '_' and '-', starting with a letter or digit", quote.Path(name))
		}
	}
	return nil
}

// CheckRoots checks roots as Open does: each a folder, no name or
// folder given twice, none inside another (a file would have two names).
func CheckRoots(roots []Root) error {
	_, err := newRootMap(roots)
	return err
}

// rootSep ends a root's name in a stored path.
const rootSep = ":"

// rootMap converts between the paths of this machine and the paths the
// database stores (see Root).
type rootMap struct {
	roots  []Root // absolute, clean, none inside another
	byName map[string]string
}

// newRootMap checks roots: each a folder, no name or folder twice, no
// folder inside another (a file would have two stored names).
func newRootMap(roots []Root) (*rootMap, error) {
	m := &rootMap{byName: map[string]string{}}
	for _, r := range roots {
		if err := checkRootName(r.Name); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(r.Path)
		if err != nil {
			return nil, fmt.Errorf("root %s: %w", r.Name, err)
		}
		st, err := os.Stat(abs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("root %s=%s: no such folder (%s)", r.Name, quote.Path(r.Path), quote.Path(abs))
		} else if err != nil {
			return nil, fmt.Errorf("root %s=%s: %w", r.Name, quote.Path(r.Path), err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("root %s=%s: not a folder", r.Name, quote.Path(r.Path))
		}
		if old, ok := m.byName[r.Name]; ok {
			return nil, fmt.Errorf("root %s=%s: %s is already named %s", r.Name, quote.Path(r.Path), r.Name, quote.Path(old))
		}
		for _, o := range m.roots {
			switch {
			case o.Path == abs:
				return nil, fmt.Errorf("root %s=%s: the folder is already named %s", r.Name, quote.Path(r.Path), o.Name)
			case under(abs, o.Path), under(o.Path, abs):
				return nil, fmt.Errorf("root %s=%s: one of it and root %s=%s is inside the other, so a file would have two names", r.Name, quote.Path(r.Path), o.Name, quote.Path(o.Path))
			}
		}
		m.byName[r.Name] = abs
		m.roots = append(m.roots, Root{Name: r.Name, Path: abs})
	}
	return m, nil
}

// stored is the path the database keeps for local, a path of this
// machine; a path already in the stored form is returned as it is.
func (m *rootMap) stored(local string) string {
	if !filepath.IsAbs(local) {
		return local
	}
	for _, r := range m.roots {
		if under(local, r.Path) {
			rel, err := filepath.Rel(r.Path, local)
			if err != nil {
				break
			}
			if rel == "." {
				return r.Name + rootSep
			}
			return r.Name + rootSep + filepath.ToSlash(rel)
		}
	}
	return local
}

// local is the path on this machine of a stored path; ok is false, and
// the stored path returned, when it is under a root not named here.
func (m *rootMap) local(stored string) (path, name string, ok bool) {
	if stored == "" || filepath.IsAbs(stored) {
		return stored, "", true
	}
	name, rel, _ := strings.Cut(stored, rootSep)
	dir, ok := m.byName[name]
	if !ok {
		return stored, name, false
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), name, true
}

// claimRoots are the stored forms of a run's roots (local, absolute): each
// root's own, and those of the named roots inside it, whose files are
// stored by name.
func (m *rootMap) claimRoots(roots []string) []string {
	var out []string
	for _, r := range roots {
		out = append(out, m.stored(r))
		for _, n := range m.roots {
			if n.Path != r && under(n.Path, r) {
				out = append(out, n.Name+rootSep)
			}
		}
	}
	return out
}

// IsStoredPath reports whether path is the stored form of a file under a
// root that is not named on this machine (see Root), NAME:path/inside:
// it is shown as the database holds it, and nothing reads, moves or
// removes the file. The engine hands out no other path that is not
// absolute.
func IsStoredPath(path string) bool {
	name, _, ok := strings.Cut(path, rootSep)
	return ok && !filepath.IsAbs(path) && name != "" && checkRootName(name) == nil
}

// rooted is the engine's database seen through its named roots: the one
// place where paths change between this machine's form and the stored
// one. What goes in (items, failures, decisions, the work queue) is
// stored under root names; what comes out is local, except under a root
// not named here, which stays as stored and is said once in log.
type rooted struct {
	storage
	m   *rootMap
	log io.Writer

	mu    sync.Mutex
	noted map[string]bool
}

// rootedClaimer is rooted for a shared database: its work queue converts
// paths too.
type rootedClaimer struct {
	*rooted
	c claimer
}

// withRoots puts db behind m.
func withRoots(db storage, m *rootMap, log io.Writer) storage {
	r := &rooted{storage: db, m: m, log: log, noted: map[string]bool{}}
	if c, ok := db.(claimer); ok {
		return &rootedClaimer{rooted: r, c: c}
	}
	return r
}

var (
	_ storage  = (*rooted)(nil)
	_ claimer  = (*rootedClaimer)(nil)
	_ statuser = (*rootedClaimer)(nil)
)

// local converts a stored path, noting once per root name one that is
// not named here.
func (r *rooted) local(stored string) string {
	p, name, ok := r.m.local(stored)
	if !ok {
		r.mu.Lock()
		if !r.noted[name] {
			r.noted[name] = true
			fmt.Fprintf(r.log, "note: root %s is not named on this machine: its items show as %s%sPATH and are left alone (not pruned, checked against files or acted on); give --root %s=FOLDER to use them\n",
				quote.Path(name), quote.Path(name), rootSep, quote.Path(name))
		}
		r.mu.Unlock()
	}
	return p
}

func (r *rooted) localItem(it store.Item) store.Item {
	it.Path = r.local(it.Path)
	return it
}

func (r *rooted) Put(recs []store.Record) ([]uint64, error) {
	out := make([]store.Record, len(recs))
	for i, rec := range recs {
		rec.Item.Path = r.m.stored(rec.Item.Path)
		out[i] = rec
	}
	return r.storage.Put(out)
}

func (r *rooted) Item(id uint64) (store.Item, bool, error) {
	it, ok, err := r.storage.Item(id)
	return r.localItem(it), ok, err
}

// ItemByPath looks path up by its stored form and, under a named root,
// by its absolute path too: an item stored before the root had its name
// (Index stores it by the name then).
func (r *rooted) ItemByPath(path string) (store.Item, bool, error) {
	s := r.m.stored(path)
	it, ok, err := r.storage.ItemByPath(s)
	if err == nil && !ok && s != path {
		it, ok, err = r.storage.ItemByPath(path)
	}
	return r.localItem(it), ok, err
}

func (r *rooted) ForEachItem(fn func(store.Item) error) error {
	return r.storage.ForEachItem(func(it store.Item) error { return fn(r.localItem(it)) })
}

func (r *rooted) ItemsAfter(after uint64, limit int) ([]store.Item, error) {
	page, err := r.storage.ItemsAfter(after, limit)
	for i := range page {
		page[i] = r.localItem(page[i])
	}
	return page, err
}

func (r *rooted) Failures() ([]store.Failure, error) {
	fs, err := r.storage.Failures()
	for i := range fs {
		fs[i].Path = r.local(fs[i].Path)
	}
	return fs, err
}

func (r *rooted) PutFailures(reasons map[string]string) error {
	out := make(map[string]string, len(reasons))
	for p, why := range reasons {
		out[r.m.stored(p)] = why
	}
	return r.storage.PutFailures(out)
}

func (r *rooted) ClearFailures(paths []string) error {
	return r.storage.ClearFailures(r.storedAll(paths))
}

func (r *rooted) storedAll(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = r.m.stored(p)
	}
	return out
}

func (r *rooted) AddDecision(d store.Decision) (uint64, error) {
	files := make([]store.DecisionFile, len(d.Files))
	for i, f := range d.Files {
		f.Path = r.m.stored(f.Path)
		files[i] = f
	}
	d.Files = files
	return r.storage.AddDecision(d)
}

func (r *rooted) Decisions() ([]store.Decision, error) {
	ds, err := r.storage.Decisions()
	for i := range ds {
		for j := range ds[i].Files {
			ds[i].Files[j].Path = r.local(ds[i].Files[j].Path)
		}
	}
	return ds, err
}

// KeepOpen is the backend's (see Engine.KeepOpen).
func (r *rooted) KeepOpen() bool {
	k, ok := r.storage.(interface{ KeepOpen() bool })
	return ok && k.KeepOpen()
}

func (r *rootedClaimer) Enqueue(files []pgstore.Work) (int, error) {
	out := make([]pgstore.Work, len(files))
	for i, f := range files {
		f.Path = r.m.stored(f.Path)
		out[i] = f
	}
	return r.c.Enqueue(out)
}

func (r *rootedClaimer) ClaimExcept(n int, lease time.Duration, roots, except []string) ([]pgstore.Work, error) {
	ws, err := r.c.ClaimExcept(n, lease, r.m.claimRoots(roots), r.storedAll(except))
	for i := range ws {
		ws[i].Path = r.local(ws[i].Path)
	}
	return ws, err
}

func (r *rootedClaimer) GiveBack(paths []string) error { return r.c.GiveBack(r.storedAll(paths)) }

func (r *rootedClaimer) Renew(lease time.Duration) error { return r.c.Renew(lease) }
func (r *rootedClaimer) Finish(paths []string) error     { return r.c.Finish(r.storedAll(paths)) }
func (r *rootedClaimer) Unclaim(reason string) error     { return r.c.Unclaim(reason) }

func (r *rootedClaimer) Pending(roots []string) (int, time.Duration, error) {
	return r.c.Pending(r.m.claimRoots(roots))
}

// Status is the backend's work queue (see Engine.WorkStatus).
func (r *rootedClaimer) Status() (pgstore.WorkStatus, error) {
	s, ok := r.storage.(statuser)
	if !ok {
		return pgstore.WorkStatus{}, errors.New("read the work queue: the database has none")
	}
	return s.Status()
}

// backend is the database behind the engine's named roots, for what
// needs its own optional methods and converts no paths.
func (e *Engine) backend() storage {
	if r, ok := e.db.(*rooted); ok {
		return r.storage
	}
	if r, ok := e.db.(*rootedClaimer); ok {
		return r.storage
	}
	return e.db
}

// reroot stores by their root's name the items stored by absolute paths
// inside a named root (indexed before the root had its name), with the
// vectors they have: no file is read. An item whose named form is stored
// too (another machine stored it so meanwhile) is dropped instead, so no
// file is stored twice. It returns how many items it renamed or dropped.
func (e *Engine) reroot(batchSize int) (int, error) {
	r, ok := e.db.(interface{ rootedDB() *rooted })
	if !ok || len(r.rootedDB().m.roots) == 0 {
		return 0, nil
	}
	m, db := r.rootedDB().m, e.backend()
	var old []store.Item
	err := db.ForEachItem(func(it store.Item) error {
		if filepath.IsAbs(it.Path) && m.stored(it.Path) != it.Path {
			old = append(old, it)
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	for start := 0; start < len(old); start += batchSize {
		part := old[start:min(start+batchSize, len(old))]
		var recs []store.Record
		var gone []uint64
		for _, it := range part {
			gone = append(gone, it.ID)
			if _, had, err := db.ItemByPath(m.stored(it.Path)); err != nil {
				return 0, err
			} else if had {
				continue
			}
			v, err := db.Vector(it.ID)
			if err != nil {
				return 0, fmt.Errorf("store %s by its root's name: %w", quote.Path(it.Path), err)
			}
			it.Path = m.stored(it.Path)
			recs = append(recs, store.Record{Item: it, Vector: v})
		}
		ids, err := db.Put(recs)
		if err != nil {
			return 0, fmt.Errorf("store items by their root's name: %w", err)
		}
		for i, id := range ids {
			if err := e.idx.Add(id, recs[i].Vector); err != nil {
				return 0, err
			}
		}
		if err := e.remove(gone); err != nil {
			return 0, err
		}
		e.release()
	}
	fmt.Fprintf(e.opts.Log, "%d items stored by absolute paths inside named roots are now stored by the roots' names\n", len(old))
	return len(old), nil
}

func (r *rooted) rootedDB() *rooted { return r }

// RootCount is how many items are stored under a named root; Path is
// its folder on this machine, "" when it is not named here.
type RootCount struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Items int    `json:"items"`
}

// rootCounter counts items by root for Stats.
type rootCounter struct {
	m *rootMap
	n map[string]int
}

func (e *Engine) newRootCounter() *rootCounter {
	c := &rootCounter{m: &rootMap{}, n: map[string]int{}}
	if r, ok := e.db.(interface{ rootedDB() *rooted }); ok {
		c.m = r.rootedDB().m
	}
	return c
}

// add counts it (with its path as the engine hands it out).
func (c *rootCounter) add(it Item) {
	if IsStoredPath(it.Path) {
		name, _, _ := strings.Cut(it.Path, rootSep)
		c.n[name]++
		return
	}
	if s := c.m.stored(it.Path); s != it.Path {
		name, _, _ := strings.Cut(s, rootSep)
		c.n[name]++
	}
}

// counts are the named roots of this machine, then the others, by name.
func (c *rootCounter) counts() []RootCount {
	out := []RootCount{}
	for _, r := range c.m.roots {
		out = append(out, RootCount{Name: r.Name, Path: r.Path, Items: c.n[r.Name]})
		delete(c.n, r.Name)
	}
	var rest []RootCount
	for name, n := range c.n {
		rest = append(rest, RootCount{Name: name, Items: n})
	}
	slices.SortFunc(rest, func(a, b RootCount) int { return strings.Compare(a.Name, b.Name) })
	return append(out, rest...)
}

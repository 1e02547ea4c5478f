package simsearch

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/store"
)

// Decisions are what a user has said about files that dedup groups, so
// that a later run does not ask again. They are kept in the database by
// content hash, not by path: a photo renamed or moved keeps its hash, so
// the decision follows it, and a file edited since is a new photo the user
// has said nothing about.
//
// A decision holds the set of its files' hashes rather than the pairs of
// a group's keeper and members: "these three are not duplicates" must also
// stop a later run, with another keeper policy or a new photo that would
// be their keeper, from grouping two of them again. So no group holds two
// files of one decision, as keeper and member or as two members; a file
// to be kept (KeepAll) is, besides, never a copy in any group. A hash
// named twice (two byte-identical files) keeps files of that content
// apart from each other too; named once, it does not, so an exact copy
// made later is still found.

// DecisionKind says what a Decision records.
type DecisionKind string

// The kinds of decisions. Both keep their files out of each other's
// groups; KeepAll also keeps its files out of every other group but as
// the keeper.
const (
	// NotDuplicates: the files are not copies of each other (Ignore).
	NotDuplicates DecisionKind = "ignore"
	// KeepAll: the files may be copies, but every one is kept (KeepAll).
	KeepAll DecisionKind = "keep"
)

// Decision is a verdict on a set of files, recorded by Ignore, KeepAll or
// DecideGroup.
type Decision struct {
	ID       uint64         `json:"id"`
	Kind     DecisionKind   `json:"kind"`
	Recorded time.Time      `json:"recorded"`
	Files    []DecisionFile `json:"files"` // by hash
}

// DecisionFile is one file of a decision.
type DecisionFile struct {
	Hash  Hash   `json:"sha256"`
	Named string `json:"named"` // its path when the decision was recorded
	// Paths are the indexed files that have this content now: where
	// renames and moves took it. None when it is no longer indexed.
	Paths []string `json:"paths"`
}

// Errors of decisions, for errors.Is.
var (
	// ErrNotIndexed means a file named in a decision is not in the
	// database as it is now (never indexed, or changed since): its
	// content hash is not known.
	ErrNotIndexed = errors.New("not indexed")
	// ErrNoDecision means no decision has the id given to Forget.
	ErrNoDecision = errors.New("no such decision")
	// ErrFewFiles means a decision would name fewer than two files.
	ErrFewFiles = errors.New("a decision needs at least two files")
)

var kinds = map[DecisionKind]store.DecisionKind{NotDuplicates: store.NotDuplicates, KeepAll: store.KeepAll}

func kindOf(k store.DecisionKind) DecisionKind {
	for name, v := range kinds {
		if v == k {
			return name
		}
	}
	return DecisionKind(fmt.Sprintf("kind(%d)", k)) // from a newer simsearch
}

// Ignore records that the files at paths are not duplicates of each other:
// no later Duplicates run puts two of them in one group. A directory
// stands for every indexed photo under it. Each file must be indexed and
// unchanged since (same size and modification time), or the error wraps
// ErrNotIndexed. Recording the same files again returns the decision
// already recorded.
func (e *Engine) Ignore(paths []string) (Decision, error) {
	return e.decide(NotDuplicates, paths, nil)
}

// KeepAll records that the files at paths are all to be kept: no later
// Duplicates run offers any of them for action. None of them is a copy in
// a group: each is the keeper of the group it is in, whatever the keeper
// policy, so that its copies which no decision names are still found, and
// no group holds two of them. (An exact copy of one of them made later has
// its content, so it too is kept from other keepers' groups, and offered
// as a copy of the file it duplicates.) Paths are as for Ignore.
func (e *Engine) KeepAll(paths []string) (Decision, error) {
	return e.decide(KeepAll, paths, nil)
}

// DecideGroup records kind for the keeper and members of g, a group from
// an earlier run (a JSON report or plan read back). Each file must still
// have the content hash the group gives it, so a decision is never taken
// on a photo the user did not see.
func (e *Engine) DecideGroup(kind DecisionKind, g dedup.Group) (Decision, error) {
	expect := map[string]Hash{g.Keeper.Path: g.Keeper.Hash}
	paths := []string{g.Keeper.Path}
	for _, m := range g.Members {
		expect[m.Path] = m.Hash
		paths = append(paths, m.Path)
	}
	return e.decide(kind, paths, expect)
}

func (e *Engine) decide(kind DecisionKind, paths []string, expect map[string]Hash) (Decision, error) {
	defer e.release()
	sk, ok := kinds[kind]
	if !ok {
		return Decision{}, fmt.Errorf("record decision: unknown kind %q", kind)
	}
	files, err := e.decisionFiles(paths, expect)
	if err != nil {
		return Decision{}, err
	}
	if len(files) < 2 {
		return Decision{}, fmt.Errorf("record decision: %w, %d given", ErrFewFiles, len(files))
	}
	d := store.Decision{Kind: sk, Time: time.Now(), Files: files}
	slices.SortFunc(d.Files, compareFiles)
	ds, err := e.db.Decisions()
	if err != nil {
		return Decision{}, err
	}
	for _, old := range ds {
		if old.Kind == d.Kind && sameHashes(old.Files, d.Files) {
			return e.describeOne(old)
		}
	}
	if d.ID, err = e.db.AddDecision(d); err != nil {
		return Decision{}, err
	}
	return e.describeOne(d)
}

// decisionFiles resolves paths (files or directories) to the indexed
// photos they name, once each.
func (e *Engine) decisionFiles(paths []string, expect map[string]Hash) ([]store.DecisionFile, error) {
	abs, err := orderedAbs(paths)
	if err != nil {
		return nil, err
	}
	var files []store.DecisionFile
	seen := map[string]bool{}
	add := func(it Item) {
		if !seen[it.Path] {
			seen[it.Path] = true
			files = append(files, store.DecisionFile{Hash: it.Hash, Path: it.Path})
		}
	}
	var dirs []string
	for i, p := range abs {
		// As the walk does: links to regular files are followed.
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			dirs = append(dirs, p)
			continue
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", paths[i])
		}
		it, ok, err := e.db.ItemByPath(p)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: %w", p, ErrNotIndexed)
		case it.Size != st.Size() || it.ModTime != st.ModTime().UnixNano():
			return nil, fmt.Errorf("%s: %w (changed since it was indexed)", p, ErrNotIndexed)
		}
		if h, ok := expect[p]; ok && h != it.Hash {
			return nil, fmt.Errorf("%s: content differs from the group given (sha256 %s, now %s)", p, short(h), short(it.Hash))
		}
		add(it)
	}
	if len(dirs) > 0 {
		n := len(files)
		err := e.db.ForEachItem(func(it Item) error {
			if it.State == store.StateIndexed && underAny(it.Path, dirs) {
				add(it)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no indexed photos under it: %w", dirs[0], ErrNotIndexed)
		}
	}
	return files, nil
}

func short(h Hash) string { return h.String()[:12] }

// compareFiles orders decision files as the store keeps them: by hash,
// then path.
func compareFiles(a, b store.DecisionFile) int {
	if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

// sameHashes reports whether two sorted file lists name the same hashes
// the same number of times.
func sameHashes(a, b []store.DecisionFile) bool {
	return slices.EqualFunc(a, b, func(x, y store.DecisionFile) bool { return x.Hash == y.Hash })
}

// Decisions returns every recorded decision, oldest first, each file with
// the indexed paths that hold its content now.
func (e *Engine) Decisions() ([]Decision, error) {
	defer e.release()
	ds, err := e.db.Decisions()
	if err != nil {
		return nil, err
	}
	return e.describe(ds...)
}

func (e *Engine) describeOne(d store.Decision) (Decision, error) {
	ds, err := e.describe(d)
	if err != nil {
		return Decision{}, err
	}
	return ds[0], nil
}

// describe turns stored decisions into Decisions with current paths.
func (e *Engine) describe(ds ...store.Decision) ([]Decision, error) {
	paths := map[Hash][]string{}
	for _, d := range ds {
		for _, f := range d.Files {
			paths[f.Hash] = nil
		}
	}
	if len(paths) > 0 {
		err := e.db.ForEachItem(func(it Item) error {
			if p, ok := paths[it.Hash]; ok && it.State == store.StateIndexed {
				paths[it.Hash] = append(p, it.Path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Decision, 0, len(ds))
	for _, d := range ds {
		dd := Decision{ID: d.ID, Kind: kindOf(d.Kind), Recorded: d.Time}
		for _, f := range d.Files {
			p := append([]string{}, paths[f.Hash]...) // [] in JSON when none
			slices.Sort(p)
			dd.Files = append(dd.Files, DecisionFile{Hash: f.Hash, Named: f.Path, Paths: p})
		}
		out = append(out, dd)
	}
	return out, nil
}

// Forget removes decision id and returns it as it was: its files are
// grouped again by the next Duplicates run. An unknown id is ErrNoDecision.
func (e *Engine) Forget(id uint64) (Decision, error) {
	defer e.release()
	ds, err := e.db.Decisions()
	if err != nil {
		return Decision{}, err
	}
	i := slices.IndexFunc(ds, func(d store.Decision) bool { return d.ID == id })
	if i < 0 {
		return Decision{}, fmt.Errorf("decision %d: %w", id, ErrNoDecision)
	}
	out, err := e.describeOne(ds[i])
	if err != nil {
		return Decision{}, err
	}
	ok, err := e.db.DeleteDecision(id)
	if err != nil {
		return Decision{}, err
	}
	if !ok { // forgotten meanwhile by another process
		return Decision{}, fmt.Errorf("decision %d: %w", id, ErrNoDecision)
	}
	return out, nil
}

// apart keeps the files of each decision out of each other's groups
// during one Duplicates run, and counts the pairs it kept apart.
//
// Each hash maps to the decisions that name it, so a pair costs two map
// lookups and a merge of two lists that hold one entry each unless the
// user decided about the same photo several times: O(1) per pair in
// practice, and O(files) memory where a table of pairs would grow with the
// square of a decision's size (a folder of 1,000 photos kept: 500,000
// pairs).
type apart struct {
	of     map[Hash][]mark
	keeps  map[Hash]bool          // named by a KeepAll decision
	setOff map[[2]uint64]struct{} // the pairs of item ids kept apart, lower first
}

// mark says that decision d names a hash n times.
type mark struct{ d, n int32 }

func newApart(ds []store.Decision) *apart {
	a := &apart{of: map[Hash][]mark{}, keeps: map[Hash]bool{}, setOff: map[[2]uint64]struct{}{}}
	for i, d := range ds {
		for _, f := range d.Files {
			if d.Kind == store.KeepAll {
				a.keeps[f.Hash] = true
			}
			ms := a.of[f.Hash]
			if k := len(ms) - 1; k >= 0 && ms[k].d == int32(i) {
				ms[k].n++
			} else {
				ms = append(ms, mark{d: int32(i), n: 1})
			}
			a.of[f.Hash] = ms
		}
	}
	return a
}

// covers reports whether some decision names both x and y (x twice when
// they are the same).
func (a *apart) covers(x, y Hash) bool {
	mx, my := a.of[x], a.of[y]
	if x == y {
		return slices.ContainsFunc(mx, func(m mark) bool { return m.n >= 2 })
	}
	// Both lists are in decision order: merge them.
	for i, j := 0, 0; i < len(mx) && j < len(my); {
		switch {
		case mx[i].d == my[j].d:
			return true
		case mx[i].d < my[j].d:
			i++
		default:
			j++
		}
	}
	return false
}

// keepApart is dedup.Options.Apart: candidate y may not join x's group
// when a decision names both, or when y is to be kept and x is not its
// exact copy (Find asks about the keeper first, and prefer makes a kept
// file the keeper of its own group).
func (a *apart) keepApart(x, y Item) bool {
	if !a.covers(x.Hash, y.Hash) && !(a.keeps[y.Hash] && x.Hash != y.Hash) {
		return false
	}
	a.setOff[[2]uint64{min(x.ID, y.ID), max(x.ID, y.ID)}] = struct{}{}
	return true
}

// prefer is dedup.Options.Prefer: files to be kept are keepers.
func (a *apart) prefer(it Item) bool { return a.keeps[it.Hash] }

// loadApart reads the decisions for a Duplicates run; nil when there are
// none.
func (e *Engine) loadApart() (*apart, error) {
	ds, err := e.db.Decisions()
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, nil
	}
	return newApart(ds), nil
}

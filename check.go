package simsearch

import (
	"context"
	"errors"
	"fmt"

	"github.com/simsearch/simsearch/internal/quote"
	"github.com/simsearch/simsearch/internal/store"
)

// ErrUnsalvageable means a damaged database could not be read even to
// salvage it: bbolt's meta pages, or the page that holds its buckets, are
// destroyed. Only moving it away and indexing again helps.
var ErrUnsalvageable = errors.New("database cannot be salvaged")

// Problem is one thing a check found wrong with the database or its
// index.
type Problem struct {
	// Text says what is wrong, in plain words; a path in it is quoted
	// (strconv.Quote) when it holds a control character or is not UTF-8.
	Text string
	// Path is the photo concerned, as stored, when it is known.
	Path string
}

func (p Problem) String() string { return p.Text }

// CheckReport is what Engine.Check (or Repair) found and, with repair,
// did.
type CheckReport struct {
	// Problems is what the check found, in the order found, and then what
	// a salvage could not copy.
	Problems []Problem
	// Repaired says what the repair did, one step each.
	Repaired []string
	// Dropped counts the items the repair took out, a run of them on
	// pages a salvage could not read counting once. None of them is in
	// the database any more, so the next Index embeds their photos again.
	Dropped int
	// Kept is where a salvage left the damaged file; "" when there was no
	// salvage.
	Kept string
	// Left is what a check right after the repair still found; a repair
	// that worked leaves nothing.
	Left []Problem
}

// OK reports whether the database and its index are consistent now:
// the check found nothing, or a repair mended all of it.
func (r *CheckReport) OK() bool {
	return len(r.Problems) == 0 || len(r.Repaired) > 0 && len(r.Left) == 0
}

// checkOptions are the store's rules for our records: the extractor
// L2-normalises every vector, so one that is not of unit length was
// damaged on disk.
func checkOptions() *store.CheckOptions { return &store.CheckOptions{UnitVectors: true} }

// Check verifies the database (bbolt's page checks, and that items,
// vectors and the path index agree and every vector is of unit length)
// and that the index holds exactly the stored items. With repair it mends
// what it found in one run, and a check right after finds nothing: a
// damaged file is salvaged (every item that passes the checks is copied
// into a new file and the damaged one kept); otherwise the items with a
// damaged or disagreeing record are dropped in place. Either way the
// index is brought in line with the items. A dropped item is not in the
// database, so the next Index embeds its photo again.
func (e *Engine) Check(repair bool) (CheckReport, error) {
	var rep CheckReport
	if err := e.needIndex(); err != nil {
		return rep, err
	}
	f, err := e.inspect()
	if err != nil {
		return rep, err
	}
	rep.Problems = f.problems()
	if !repair || f.clean() {
		return rep, nil
	}
	if err := e.repair(&rep, f); err != nil {
		return rep, err
	}
	if f, err = e.inspect(); err != nil {
		return rep, err
	}
	if !f.clean() && rep.Kept == "" {
		// A repair in place that left something (the file changed under
		// it, or showed damage only now): a salvage copies past it.
		if err := e.salvage(&rep); err != nil {
			return rep, err
		}
		if f, err = e.inspect(); err != nil {
			return rep, err
		}
	}
	rep.Left = f.problems()
	return rep, nil
}

// Repair checks and repairs the database at opts.DB as Engine.Check(true)
// does, and also when the file is too damaged for Open to read it: it is
// then salvaged first. opts are Open's, for writing; the database must
// exist. An error wrapping ErrUnsalvageable means not even a salvage
// could read the file.
func Repair(ctx context.Context, opts *Options) (CheckReport, error) {
	var rep CheckReport
	if opts == nil || opts.DB == "" {
		return rep, errors.New("repair: no database path")
	}
	if err := statDatabase(opts.DB); err != nil {
		return rep, fmt.Errorf("repair: %w", err)
	}
	e, err := Open(ctx, opts)
	if errors.Is(err, store.ErrCorrupt) && !IsServerDatabase(opts.DB) {
		rep.Problems = append(rep.Problems, Problem{Text: fmt.Sprintf("the database cannot be opened: %v", err)})
		sr, serr := store.SalvageInPlace(opts.DB, opts.LockTimeout, checkOptions())
		salvaged(&rep, sr)
		if serr != nil {
			return rep, unsalvageable(serr)
		}
		e, err = Open(ctx, opts)
	}
	if err != nil {
		return rep, err
	}
	defer e.Close()
	r, err := e.Check(true)
	rep.Problems = append(rep.Problems, r.Problems...)
	rep.Repaired = append(rep.Repaired, r.Repaired...)
	rep.Dropped += r.Dropped
	if rep.Kept == "" {
		rep.Kept = r.Kept
	}
	rep.Left = r.Left
	return rep, err
}

// findings is what one look at the database and the index found.
type findings struct {
	store []store.Problem
	index string // how the index differs from the stored items; "" if it does not
}

func (f findings) clean() bool { return len(f.store) == 0 && f.index == "" }

// worst is the kind of the store's problem that takes the most to repair.
func (f findings) worst() store.ProblemKind {
	var k store.ProblemKind
	for _, p := range f.store {
		k = max(k, p.Kind)
	}
	return k
}

func (f findings) problems() []Problem {
	var out []Problem
	for _, p := range f.store {
		out = append(out, Problem{Text: p.Text, Path: p.Path})
	}
	if f.index != "" {
		out = append(out, Problem{Text: f.index})
	}
	return out
}

// inspect runs the store's check and, when it finds nothing, compares the
// index with the items: an index cannot be held against records that are
// themselves in doubt.
func (e *Engine) inspect() (findings, error) {
	var f findings
	var err error
	if f.store, err = e.db.Check(checkOptions()); err != nil || len(f.store) > 0 {
		return f, err
	}
	f.index, err = e.compareIndex()
	return f, err
}

// compareIndex says how the index differs from the stored items, or "".
func (e *Engine) compareIndex() (string, error) {
	n, err := e.db.Len()
	if err != nil {
		return "", err
	}
	missing := 0
	err = e.db.ForEachItem(func(it store.Item) error {
		if !e.idx.Contains(it.ID) {
			missing++
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if missing == 0 && e.idx.Len() == n {
		return "", nil
	}
	return fmt.Sprintf("index holds %d vectors for %d stored items (%d items missing from it)", e.idx.Len(), n, missing), nil
}

// repair mends what f found: a salvage for a damaged file, a repair in
// place for records, and then the index.
func (e *Engine) repair(rep *CheckReport, f findings) error {
	switch f.worst() {
	case store.Damaged:
		return e.salvage(rep)
	case store.BadRecord, store.BadSnapshot:
		r, err := e.db.RepairInPlace(checkOptions())
		if errors.Is(err, store.ErrCorrupt) {
			// Damage the first look did not show (it changed since).
			return e.salvage(rep)
		}
		if err != nil {
			return err
		}
		if n := len(r.Items); n > 0 {
			rep.Repaired = append(rep.Repaired, fmt.Sprintf("%d damaged items removed", n))
			rep.Dropped += n
		}
		if r.Records > 0 {
			rep.Repaired = append(rep.Repaired, fmt.Sprintf("%d stray path entries, vectors or skipped-file records removed", r.Records))
		}
		if r.Snapshot {
			rep.Repaired = append(rep.Repaired, "the unreadable index snapshot replaced")
		}
		if r.Sequence > 0 {
			rep.Repaired = append(rep.Repaired, fmt.Sprintf("the id sequence raised to %d", r.Sequence))
		}
		for _, id := range r.Items {
			e.idx.Delete(id)
		}
	}
	diff, err := e.compareIndex()
	if err != nil {
		return err
	}
	if diff != "" || f.index != "" {
		if err := e.rebuildIndex(); err != nil {
			return err
		}
		rep.Repaired = append(rep.Repaired, "index rebuilt from the stored vectors")
		return nil
	}
	// The items changed (their version with them): store the index as it
	// is now, so the next Open finds a snapshot that is current.
	return e.saveIndex()
}

// salvage puts a copy of every item that passes the checks in place of a
// damaged database (store.DB.SalvageInPlace, which keeps the damaged
// file) and rebuilds the index.
func (e *Engine) salvage(rep *CheckReport) error {
	sr, err := e.db.SalvageInPlace(checkOptions())
	salvaged(rep, sr)
	if err != nil {
		return unsalvageable(err)
	}
	if err := e.rebuildIndex(); err != nil {
		return err
	}
	rep.Repaired = append(rep.Repaired, "index rebuilt from the stored vectors")
	return nil
}

// salvaged adds what a salvage did to rep.
func salvaged(rep *CheckReport, sr store.SalvageReport) {
	for _, p := range sr.Problems {
		rep.Problems = append(rep.Problems, Problem{Text: p.Text, Path: p.Path})
	}
	if sr.Kept == "" {
		return // it failed, and the file is as it was
	}
	rep.Dropped += sr.Lost
	if rep.Kept == "" {
		rep.Kept = sr.Kept
	}
	rep.Repaired = append(rep.Repaired, fmt.Sprintf("%d items salvaged into a new database, %d damaged records or runs of records lost; the damaged file is kept as %s",
		sr.Items, sr.Lost, quote.Path(sr.Kept)))
}

// unsalvageable marks a salvage that could not read the file.
func unsalvageable(err error) error {
	if errors.Is(err, store.ErrCorrupt) {
		return fmt.Errorf("%w: %w", ErrUnsalvageable, err)
	}
	return err
}

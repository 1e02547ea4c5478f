package dedup

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The journal is one JSON-lines file per run, <dir>/<run id>.jsonl, next
// to the database rather than inside it: it stays readable (and undoable
// by hand) when the database is locked, damaged or compacted. Each step is
// written as "begin" before the file is touched and "done" after; each
// begin is synced before its file is touched. An undone run's file is renamed to <run id>.jsonl.undone,
// a purged one's to <run id>.jsonl.purged. Deleted files are in the trash
// of their file system (trash.go); runs journalled before that kept them
// in <dir>/<run id>.trash/, and still undo and purge from there.

// ErrNoRun means there is no run left to undo.
var ErrNoRun = errors.New("no dedup run to undo")

type record struct {
	State string `json:"state"` // begin or done
	Step
}

type journal struct {
	f *os.File
}

func openJournal(dir, runID string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, runID+".jsonl"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return &journal{f: f}, nil
}

// write appends r. A "begin" is synced, with every line before it, before
// write returns, since its file is touched next; a "done" reaches the disk
// with the next begin or at Close. One sync per file, not two: losing a
// done record costs nothing, as Undo works from what is on disk.
func (j *journal) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if r.State == "begin" {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}

func (j *journal) Close() error {
	return errors.Join(j.f.Sync(), j.f.Close())
}

// UndoResult is what Undo did.
type UndoResult struct {
	RunID    string   `json:"run_id"`
	Restored []string `json:"restored"`
	Problems []string `json:"problems"` // steps that could not be reversed, with reasons
}

// RunState says where a journalled run stands.
type RunState string

// The states of a run.
const (
	RunDone        RunState = "done"        // every step it began, it finished
	RunInterrupted RunState = "interrupted" // stopped between beginning a step and finishing it
	RunUndone      RunState = "undone"
	RunPurged      RunState = "purged" // the files it put in the trash are gone for good
)

// Run is one journalled dedup run.
type Run struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // what its steps did: "delete", or "move+delete" for a plan with both
	Files  int       `json:"files"`  // files changed
	Bytes  int64     `json:"bytes"`  // their size
	State  RunState  `json:"state"`

	path  string
	steps []Step       // begun, in order
	done  map[int]bool // by Seq
}

// The journal files of a run: <id>.jsonl while it can be undone, renamed
// with one of these suffixes once it is undone or purged.
const (
	undoneSuffix = ".undone"
	purgedSuffix = ".purged"
)

// Runs lists the runs journalled in dir, oldest first.
func Runs(dir string) ([]Run, error) {
	runs, err := readRuns(dir)
	for i := range runs {
		runs[i].steps, runs[i].done = nil, nil
	}
	return runs, err
}

func readRuns(dir string) ([]Run, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl*"))
	if err != nil {
		return nil, err
	}
	var runs []Run
	for _, p := range paths {
		name := filepath.Base(p)
		r := Run{path: p, State: RunDone}
		switch {
		case strings.HasSuffix(name, ".jsonl"+undoneSuffix):
			r.State = RunUndone
		case strings.HasSuffix(name, ".jsonl"+purgedSuffix):
			r.State = RunPurged
		case !strings.HasSuffix(name, ".jsonl"):
			continue
		}
		r.ID = name[:strings.Index(name, ".jsonl")]
		if r.steps, r.done, err = readJournal(p); err != nil {
			return nil, err
		}
		if t, err := time.Parse(runIDLayout, r.ID); err == nil {
			r.Time = t
		} else if st, err := os.Stat(p); err == nil {
			r.Time = st.ModTime().UTC()
		}
		var ops []string
		for _, s := range r.steps {
			if !slices.Contains(ops, string(s.Op)) {
				ops = append(ops, string(s.Op))
			}
			if !r.done[s.Seq] {
				if r.State == RunDone {
					r.State = RunInterrupted
				}
				continue
			}
			r.Files++
			size := s.Size
			if size == 0 && s.Dest != "" { // journals before sizes were recorded
				if st, err := os.Lstat(s.Dest); err == nil {
					size = st.Size()
				}
			}
			r.Bytes += size
		}
		r.Action = strings.Join(ops, "+")
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs, nil
}

// Undo reverses the newest run journalled in dir that is neither undone
// nor purged (see UndoRun).
func Undo(dir string, log io.Writer) (UndoResult, error) {
	return UndoRun(context.Background(), dir, "", log)
}

// UndoRun reverses the run journalled in dir as id (a unique prefix of
// one will do; "" means the newest that is neither undone nor purged):
// moved and deleted files go back to their paths, hard links become
// separate files again (a copy of the keeper's bytes, which were the
// same, with the original mode and modification time). Any run can be
// undone, in any order: a file that a newer run moved again, or whose
// path is taken, is reported and left as it is. It works from what is on
// disk, so an interrupted run is undone as far as it got. When every step
// is reversed the run is marked undone; otherwise UndoRun can be run
// again after fixing the problems, or after ctx was done midway.
func UndoRun(ctx context.Context, dir, id string, log io.Writer) (UndoResult, error) {
	if log == nil {
		log = io.Discard
	}
	var res UndoResult
	runs, err := readRuns(dir)
	if err != nil {
		return res, err
	}
	at := -1
	if id == "" {
		for i := len(runs) - 1; i >= 0 && at < 0; i-- {
			if runs[i].State == RunDone || runs[i].State == RunInterrupted {
				at = i
			}
		}
		if at < 0 {
			return res, ErrNoRun
		}
	} else {
		if at, err = findRun(runs, id); err != nil {
			return res, err
		}
		if runs[at].State == RunUndone {
			return res, fmt.Errorf("run %s is already undone", runs[at].ID)
		}
	}
	run := &runs[at]
	res.RunID = run.ID
	for i := len(run.steps) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		s := run.steps[i]
		done, err := reverse(&s, run.ID)
		if err != nil {
			if by := movedAgain(runs[at+1:], &s); by != "" {
				err = fmt.Errorf("%v: run %s moved it again; undo that run first", err, by)
			} else if run.State == RunPurged && s.Op == Delete {
				err = fmt.Errorf("%v: purged from the trash", err)
			}
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", s.Path, err))
			fmt.Fprintf(log, "cannot restore %s: %v\n", s.Path, err)
			continue
		}
		if done {
			res.Restored = append(res.Restored, s.Path)
			fmt.Fprintf(log, "restored %s\n", s.Path)
		}
	}
	if len(res.Problems) > 0 {
		return res, nil
	}
	if err := os.Rename(run.path, filepath.Join(dir, run.ID+".jsonl"+undoneSuffix)); err != nil {
		return res, fmt.Errorf("mark run undone: %w", err)
	}
	os.Remove(filepath.Join(dir, run.ID+".trash"))
	return res, nil
}

// findRun returns the index of the run whose ID is id or starts with it.
func findRun(runs []Run, id string) (int, error) {
	at := -1
	for i, r := range runs {
		if r.ID == id {
			return i, nil
		}
		if strings.HasPrefix(r.ID, id) {
			if at >= 0 {
				return -1, fmt.Errorf("run %q: more than one run starts so (%s, %s)", id, runs[at].ID, r.ID)
			}
			at = i
		}
	}
	if at < 0 {
		return -1, fmt.Errorf("run %q: %w", id, ErrNoRun)
	}
	return at, nil
}

// movedAgain names the first of newer runs that took, from where s left
// it, the file that s moved, or from s.Path the file s hard-linked.
func movedAgain(newer []Run, s *Step) string {
	where := s.Dest
	if s.Op == Hardlink {
		where = s.Path
	}
	for _, r := range newer {
		if r.State == RunUndone {
			continue
		}
		for _, t := range r.steps {
			if r.done[t.Seq] && t.Path == where {
				return r.ID
			}
		}
	}
	return ""
}

// PurgeOptions configure Purge.
type PurgeOptions struct {
	OlderThan time.Duration // only runs at least this old; 0 means every run
	Yes       bool          // remove; otherwise only say what would be removed
	Now       func() time.Time
}

// PurgeResult is what Purge removed or would remove.
type PurgeResult struct {
	DryRun   bool     `json:"dry_run"`
	Runs     []string `json:"runs"`     // the runs whose trashed files were (or would be) removed
	Files    int      `json:"files"`    // files removed from the trash
	Bytes    int64    `json:"bytes"`    // their size
	Freed    int64    `json:"freed"`    // space given back to the file systems: blocks no other hard link holds, with the .trashinfo files
	Problems []string `json:"problems"` // files left in the trash, with reasons
}

// Purge empties, for good, the trashed files of the delete runs
// journalled in dir that are neither undone nor purged and at least
// opts.OlderThan old: each file in the trash is removed, with its
// .trashinfo, if its content is still the one deleted. A run whose files
// are all removed is marked purged: it can no longer be undone (the moves
// of a plan that also moved files still can, by its id). One line per
// file goes to log. When ctx is done Purge stops before the next file;
// running it again goes on.
func Purge(ctx context.Context, dir string, opts *PurgeOptions, log io.Writer) (PurgeResult, error) {
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = io.Discard
	}
	res := PurgeResult{DryRun: !o.Yes}
	runs, err := readRuns(dir)
	if err != nil {
		return res, err
	}
	cutoff := o.Now().Add(-o.OlderThan)
	for _, r := range runs {
		if r.State != RunDone && r.State != RunInterrupted || r.Time.After(cutoff) {
			continue
		}
		if !slices.ContainsFunc(r.steps, func(s Step) bool { return s.Op == Delete }) {
			continue
		}
		res.Runs = append(res.Runs, r.ID)
		problems := len(res.Problems)
		for _, s := range r.steps {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if s.Op == Delete {
				purgeStep(&s, &res, o.Yes, log)
			}
		}
		if !o.Yes {
			continue
		}
		for _, s := range r.steps {
			if s.Op == Delete && s.Info == "" { // a journal's own trash, before the trash of the file system
				removeEmptyParents(filepath.Dir(s.Dest), s.Base)
			}
		}
		os.Remove(filepath.Join(dir, r.ID+".trash"))
		if len(res.Problems) == problems {
			if err := os.Rename(r.path, filepath.Join(dir, r.ID+".jsonl"+purgedSuffix)); err != nil {
				return res, fmt.Errorf("mark run purged: %w", err)
			}
		}
	}
	return res, nil
}

// purgeStep removes from the trash the file that s put there, if it is
// still that file.
func purgeStep(s *Step, res *PurgeResult, yes bool, log io.Writer) {
	st, err := os.Lstat(s.Dest)
	if errors.Is(err, fs.ErrNotExist) {
		// Restored or emptied by a file manager, or never moved: an info
		// file left without its file is all that may remain to go.
		if yes {
			removeTrashInfo(s.Info, s.Path)
		}
		return
	}
	problem := func(why string) {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %s", s.Dest, why))
		fmt.Fprintf(log, "left %s: %s\n", s.Dest, why)
	}
	if err != nil {
		problem(err.Error())
		return
	}
	if !st.Mode().IsRegular() {
		problem("not a regular file")
		return
	}
	if h, err := hashFile(s.Dest); err != nil {
		problem(err.Error())
		return
	} else if h != s.Hash {
		problem("not the file deleted from " + s.Path + " (content differs)")
		return
	}
	freed, last := allocated(st)
	var ist os.FileInfo
	if s.Info != "" {
		ist, _ = os.Lstat(s.Info)
	}
	if yes {
		if err := os.Remove(s.Dest); err != nil {
			problem(err.Error())
			return
		}
		if ist != nil && os.Remove(s.Info) != nil {
			ist = nil
		}
	}
	res.Files++
	res.Bytes += st.Size()
	if last {
		res.Freed += freed
	}
	if ist != nil {
		if n, last := allocated(ist); last {
			res.Freed += n
		}
	}
	verb := "would remove"
	if yes {
		verb = "removed"
	}
	fmt.Fprintf(log, "%s %s (deleted from %s)\n", verb, s.Dest, s.Path)
}

// readJournal returns the steps that were begun, in order, and which of
// them were done, by Seq; a torn last line (a crash while writing it) is
// ignored.
func readJournal(path string) ([]Step, map[int]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var steps []Step
	seen := make(map[int]bool)
	done := make(map[int]bool)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		switch {
		case r.State == "begin" && !seen[r.Seq]:
			seen[r.Seq] = true
			steps = append(steps, r.Step)
		case r.State == "done":
			done[r.Seq] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	return steps, done, nil
}

// reverse undoes one step as far as it happened; it reports whether it
// restored anything.
func reverse(s *Step, runID string) (bool, error) {
	switch s.Op {
	case Move, Delete:
		ds, err := os.Lstat(s.Dest)
		if err != nil {
			if _, perr := os.Lstat(s.Path); perr == nil {
				removeTrashInfo(s.Info, s.Path) // claimed before an interruption
				return false, nil               // never moved
			}
			return false, fmt.Errorf("neither it nor %s exists", s.Dest)
		}
		if ps, err := os.Lstat(s.Path); err == nil {
			// Interrupted between the link and the unlink (or the copy and
			// the unlink): the file is in both places.
			if !os.SameFile(ps, ds) && !sameContent(s.Path, s.Dest, s.Hash) {
				return false, fmt.Errorf("both it and %s exist; left both", s.Dest)
			}
			if err := os.Remove(s.Dest); err != nil {
				return false, err
			}
		} else if err := moveFile(s.Dest, s.Path); err != nil {
			return false, err
		}
		removeTrashInfo(s.Info, s.Path)
		removeEmptyParents(filepath.Dir(s.Dest), s.Base)
		return true, nil
	case Hardlink:
		tmp := s.Path + ".simsearch-" + runID
		os.Remove(tmp) // a link made before an interruption
		st, err := os.Stat(s.Path)
		if err != nil {
			return false, err
		}
		ks, err := os.Stat(s.Keeper)
		if err != nil {
			return false, fmt.Errorf("keeper: %w", err)
		}
		if !os.SameFile(st, ks) {
			return false, nil // never linked
		}
		if err := copyFile(s.Keeper, tmp); err != nil {
			return false, err
		}
		mt := time.Unix(0, s.ModTime)
		if err := errors.Join(os.Chmod(tmp, os.FileMode(s.Mode)), os.Chtimes(tmp, mt, mt)); err != nil {
			os.Remove(tmp)
			return false, err
		}
		if h, err := hashFile(tmp); err != nil || h != s.Hash {
			os.Remove(tmp)
			return false, errors.New("keeper changed since the run; its bytes are no longer the file's")
		}
		if err := os.Rename(tmp, s.Path); err != nil {
			os.Remove(tmp)
			return false, err
		}
		return true, nil
	}
	return false, fmt.Errorf("%s: %w", s.Op, ErrAction)
}

// sameContent reports whether the files a and b both have the content
// hash h (hex).
func sameContent(a, b, h string) bool {
	ha, err := hashFile(a)
	if err != nil || ha != h {
		return false
	}
	hb, err := hashFile(b)
	return err == nil && hb == h
}

// removeEmptyParents removes dir and its parents while they are empty,
// up to but not including stop.
func removeEmptyParents(dir, stop string) {
	for stop != "" && dir != stop && rootOf(dir, []string{stop}) >= 0 {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

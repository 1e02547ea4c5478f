package dedup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The journal is one JSON-lines file per run, <dir>/<run id>.jsonl, next
// to the database rather than inside it: it stays readable (and undoable
// by hand) when the database is locked, damaged or compacted, and the
// trash of a delete run (<dir>/<run id>.trash/) lives beside it. Each
// step is written as "begin" before the file is touched and "done" after,
// each line synced. An undone run's file is renamed to
// <run id>.jsonl.undone.

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

func (j *journal) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (j *journal) Close() error { return j.f.Close() }

// UndoResult is what Undo did.
type UndoResult struct {
	RunID    string   `json:"run_id"`
	Restored []string `json:"restored"`
	Problems []string `json:"problems"` // steps that could not be reversed, with reasons
}

// Undo reverses the last run journalled in dir that is not undone yet:
// moved and deleted files go back to their paths, hard links become
// separate files again (a copy of the keeper's bytes, which were the
// same, with the original mode and modification time). It works from
// what is on disk, so an interrupted run is undone as far as it got. When
// every step is reversed the run is marked undone; otherwise Undo can be
// run again after fixing the problems.
func Undo(dir string, log io.Writer) (UndoResult, error) {
	if log == nil {
		log = io.Discard
	}
	var res UndoResult
	runs, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return res, err
	}
	if len(runs) == 0 {
		return res, ErrNoRun
	}
	sort.Strings(runs)
	last := runs[len(runs)-1]
	res.RunID = strings.TrimSuffix(filepath.Base(last), ".jsonl")
	steps, err := readJournal(last)
	if err != nil {
		return res, err
	}
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		done, err := reverse(&s, res.RunID)
		switch {
		case err != nil:
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", s.Path, err))
			fmt.Fprintf(log, "cannot restore %s: %v\n", s.Path, err)
		case done:
			res.Restored = append(res.Restored, s.Path)
			fmt.Fprintf(log, "restored %s\n", s.Path)
		}
	}
	if len(res.Problems) > 0 {
		return res, nil
	}
	if err := os.Rename(last, last+".undone"); err != nil {
		return res, fmt.Errorf("mark run undone: %w", err)
	}
	os.Remove(filepath.Join(dir, res.RunID+".trash"))
	return res, nil
}

// readJournal returns the steps that were begun, in order; a torn last
// line (a crash while writing it) is ignored.
func readJournal(path string) ([]Step, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var steps []Step
	seen := make(map[int]bool)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		if r.State == "begin" && !seen[r.Seq] {
			seen[r.Seq] = true
			steps = append(steps, r.Step)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	return steps, nil
}

// reverse undoes one step as far as it happened; it reports whether it
// restored anything.
func reverse(s *Step, runID string) (bool, error) {
	switch s.Op {
	case Move, Delete:
		if _, err := os.Lstat(s.Dest); err != nil {
			if _, perr := os.Lstat(s.Path); perr == nil {
				return false, nil // never moved
			}
			return false, fmt.Errorf("neither it nor %s exists", s.Dest)
		}
		if _, err := os.Lstat(s.Path); err == nil {
			return false, fmt.Errorf("both it and %s exist; left both", s.Dest)
		}
		if err := moveFile(s.Dest, s.Path); err != nil {
			return false, err
		}
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

package dedup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Action is what to do with the members of each group; keepers are never
// touched.
type Action string

// The actions. Every one but Report is a dry run unless ActOptions.Yes.
const (
	Report   Action = "report"   // nothing; list the groups
	Move     Action = "move"     // move members under ActOptions.To, keeping their path relative to their root
	Hardlink Action = "hardlink" // replace exact copies by hard links to the keeper
	Delete   Action = "delete"   // move members into the journal's trash, so undo can restore them
)

// ErrAction is returned for an unknown action name.
var ErrAction = errors.New("unknown action")

// ParseAction returns the action named s; "" means Report.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case "":
		return Report, nil
	case Report, Move, Hardlink, Delete:
		return a, nil
	}
	return "", fmt.Errorf("%q: %w", s, ErrAction)
}

// Step is one planned or performed change to one file.
type Step struct {
	Seq        int    `json:"seq"`
	Op         Action `json:"op"`
	Path       string `json:"path"`
	Dest       string `json:"dest,omitempty"` // move and delete: where the file goes
	Base       string `json:"base,omitempty"` // the folder Dest was made under (empty folders up to it are removed on undo)
	Keeper     string `json:"keeper"`
	Hash       string `json:"hash"`        // recorded SHA-256 of Path, hex
	KeeperHash string `json:"keeper_hash"` // recorded SHA-256 of Keeper, hex
	Mode       uint32 `json:"mode,omitempty"`
	ModTime    int64  `json:"mtime,omitempty"` // unix nanoseconds, for undoing a hard link
	Skip       string `json:"skip,omitempty"`  // why it was not (or would not be) done
}

// ActOptions configure Act.
type ActOptions struct {
	Action     Action
	To         string   // Move: destination folder
	Roots      []string // absolute; a moved file keeps its path relative to the root it is under
	JournalDir string   // where runs are journalled; required unless Action is Report
	Yes        bool     // act; otherwise only say what would happen
	Now        func() time.Time
}

// Outcome is what Act did or would do.
type Outcome struct {
	RunID   string   `json:"run_id,omitempty"`
	DryRun  bool     `json:"dry_run"`
	Steps   []Step   `json:"steps"`
	Changed []string `json:"changed"` // paths acted on (empty in a dry run)
}

// Act applies the action to the members of groups. Before each file it
// checks, by content hash, that the file is still what was indexed and
// that the keeper still exists unchanged; otherwise the file is skipped
// with a reason. With Yes, every step is written (and synced) to the
// run's journal before the file is touched, and again when done, so Undo
// can reverse the run, even an interrupted one. One line per step is
// written to log.
func Act(groups []Group, opts *ActOptions, log io.Writer) (Outcome, error) {
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = io.Discard
	}
	out := Outcome{DryRun: !o.Yes}
	if o.Action == Report || o.Action == "" {
		return out, nil
	}
	if o.JournalDir == "" {
		return out, errors.New("act: no journal folder")
	}
	if o.Action == Move && o.To == "" {
		return out, errors.New("act: move needs a destination folder")
	}
	if o.To != "" {
		to, err := filepath.Abs(o.To)
		if err != nil {
			return out, err
		}
		o.To = to
	}
	if len(o.Roots) == 0 {
		// No roots given: files keep their path below the folder that
		// holds them all.
		if d := commonDir(groups); d != "" {
			o.Roots = []string{d}
		}
	}
	out.RunID = o.Now().UTC().Format("20060102T150405.000000000Z")
	trash := filepath.Join(o.JournalDir, out.RunID+".trash")
	// The journal is created with the first change, so a run that changes
	// nothing does not hide the previous one from Undo.
	var j *journal
	defer func() {
		if j != nil {
			j.Close()
		}
	}()
	planned := make(map[string]bool)
	for _, g := range groups {
		for _, m := range g.Members {
			s := Step{Seq: len(out.Steps) + 1, Op: o.Action, Path: m.Path, Keeper: g.Keeper.Path,
				Hash: hex.EncodeToString(m.Hash[:]), KeeperHash: hex.EncodeToString(g.Keeper.Hash[:])}
			if m.Protected {
				s.Skip = "under a reference folder"
				out.Steps = append(out.Steps, s)
				describe(log, &s, o.Yes)
				continue
			}
			switch o.Action {
			case Move:
				s.Base = o.To
				s.Dest = filepath.Join(o.To, relToRoot(m.Path, o.Roots))
			case Delete:
				s.Base = trash
				s.Dest = filepath.Join(trash, relToRoot(m.Path, nil))
			case Hardlink:
				if m.Hash != g.Keeper.Hash {
					s.Skip = "not byte-identical to the keeper (hard links replace exact copies only)"
				}
			}
			if s.Skip == "" && s.Dest != "" && planned[s.Dest] {
				s.Skip = "another file in this run goes to " + s.Dest
			}
			if s.Skip == "" {
				s.Skip = check(&s)
			}
			if s.Dest != "" {
				planned[s.Dest] = true
			}
			if s.Skip == "" && o.Yes {
				if j == nil {
					var err error
					if j, err = openJournal(o.JournalDir, out.RunID); err != nil {
						return out, err
					}
				}
				if err := j.write(record{State: "begin", Step: s}); err != nil {
					return out, err
				}
				if err := perform(&s, out.RunID); err != nil {
					s.Skip = err.Error()
				} else {
					if err := j.write(record{State: "done", Step: s}); err != nil {
						return out, err
					}
					out.Changed = append(out.Changed, s.Path)
				}
			}
			out.Steps = append(out.Steps, s)
			describe(log, &s, o.Yes)
		}
	}
	return out, nil
}

// describe writes one line saying what a step did or would do.
func describe(w io.Writer, s *Step, yes bool) {
	if s.Skip != "" {
		fmt.Fprintf(w, "skip %s: %s\n", s.Path, s.Skip)
		return
	}
	verb := map[Action][2]string{Move: {"would move", "moved"}, Delete: {"would delete (to trash)", "deleted (to trash)"}, Hardlink: {"would hard-link", "hard-linked"}}[s.Op]
	v := verb[0]
	if yes {
		v = verb[1]
	}
	switch s.Op {
	case Hardlink:
		fmt.Fprintf(w, "%s %s to keeper %s\n", v, s.Path, s.Keeper)
	default:
		fmt.Fprintf(w, "%s %s -> %s (keeper %s)\n", v, s.Path, s.Dest, s.Keeper)
	}
}

// check returns why s cannot be done now, or "".
func check(s *Step) string {
	if s.Path == s.Keeper {
		return "is the keeper"
	}
	// The keeper must be a file of its own: a symlink to the copy would
	// dangle once the copy is gone.
	if ks, err := os.Lstat(s.Keeper); err != nil {
		return "keeper unreadable: " + err.Error()
	} else if !ks.Mode().IsRegular() {
		return "keeper is not a regular file"
	}
	kh, err := hashFile(s.Keeper)
	if err != nil {
		return "keeper unreadable: " + err.Error()
	}
	if kh != s.KeeperHash {
		return "keeper changed since indexing"
	}
	st, err := os.Lstat(s.Path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if !st.Mode().IsRegular() {
		return "not a regular file"
	}
	h, err := hashFile(s.Path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if h != s.Hash {
		return "changed since indexing"
	}
	ks, err := os.Stat(s.Keeper)
	if err != nil {
		return "keeper unreadable: " + err.Error()
	}
	if s.Op == Hardlink && os.SameFile(st, ks) {
		return "already a hard link to the keeper"
	}
	if s.Dest != "" {
		if _, err := os.Lstat(s.Dest); err == nil {
			return "destination exists: " + s.Dest
		}
	}
	s.Mode = uint32(st.Mode().Perm())
	s.ModTime = st.ModTime().UnixNano()
	return ""
}

func perform(s *Step, runID string) error {
	switch s.Op {
	case Move, Delete:
		return moveFile(s.Path, s.Dest)
	case Hardlink:
		tmp := s.Path + ".simsearch-" + runID
		if err := os.Link(s.Keeper, tmp); err != nil {
			if errors.Is(err, syscall.EXDEV) {
				return errors.New("keeper is on another file system")
			}
			return fmt.Errorf("link: %w", err)
		}
		if err := os.Rename(tmp, s.Path); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("replace: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%s: %w", s.Op, ErrAction)
}

// moveFile moves src to dst without ever replacing an existing dst: a hard
// link then an unlink on one file system, a copy otherwise.
func moveFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	err := os.Link(src, dst)
	if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) {
		err = copyFile(src, dst)
	}
	if err != nil {
		return fmt.Errorf("move: %w", err)
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("move: %w", err)
	}
	return nil
}

// copyFile copies src to a new dst with its mode and modification time,
// synced before it returns.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, st.ModTime(), st.ModTime())
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// relToRoot is path relative to the first root it is under, or path
// without its volume and leading separator.
func relToRoot(path string, roots []string) string {
	if i := rootOf(path, roots); i >= 0 {
		base := filepath.Base(roots[i])
		if rel, err := filepath.Rel(roots[i], path); err == nil && rel != "." {
			// Keep the root's own name so files from two roots do not
			// collide.
			return filepath.Join(base, rel)
		}
	}
	return strings.TrimLeft(path[len(filepath.VolumeName(path)):], string(filepath.Separator))
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// commonDir is the deepest folder that holds every file in groups.
func commonDir(groups []Group) string {
	dir := ""
	first := true
	add := func(p string) {
		d := filepath.Dir(p)
		if first {
			dir, first = d, false
			return
		}
		for rootOf(d, []string{dir}) < 0 {
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	for _, g := range groups {
		add(g.Keeper.Path)
		for _, m := range g.Members {
			add(m.Path)
		}
	}
	return dir
}

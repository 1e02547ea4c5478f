package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	Delete   Action = "delete"   // move members into the trash of their file system, so undo (or a file manager) can restore them
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
	Info       string `json:"info,omitempty"` // delete: the trash's .trashinfo file for Dest
	Keeper     string `json:"keeper"`
	Hash       string `json:"hash"`        // recorded SHA-256 of Path, hex
	KeeperHash string `json:"keeper_hash"` // recorded SHA-256 of Keeper, hex
	Size       int64  `json:"size,omitempty"`
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
	HomeTrash  string   // Delete: the home trash; "" means HomeTrash(nil)
	// References are absolute folders whose files are never acted on,
	// whatever a group or plan says (see Options.References); a plan
	// records them.
	References []string
	Yes        bool // act; otherwise only say what would happen
	Now        func() time.Time
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	JournalDir string // where runs are journalled; required
	HomeTrash  string // the home trash, for deleted files on its file system; "" means HomeTrash(nil)
	Yes        bool   // act; otherwise only say what would happen
	Now        func() time.Time
}

// Outcome is what Act or Apply did or would do.
type Outcome struct {
	RunID   string   `json:"run_id,omitempty"`
	DryRun  bool     `json:"dry_run"`
	Steps   []Step   `json:"steps"`
	Changed []string `json:"changed"` // paths acted on (empty in a dry run)
}

// Act applies the action to the members of groups: it is Apply of
// NewPlan(groups, opts), so every file is checked against what was
// indexed (size, modification time and content hash).
func Act(ctx context.Context, groups []Group, opts *ActOptions, log io.Writer) (Outcome, error) {
	if opts.Action == Report || opts.Action == "" {
		return Outcome{DryRun: !opts.Yes}, nil
	}
	if opts.JournalDir == "" {
		return Outcome{DryRun: !opts.Yes}, errors.New("act: no journal folder")
	}
	p, err := NewPlan(groups, opts)
	if err != nil {
		return Outcome{DryRun: !opts.Yes}, fmt.Errorf("act: %w", err)
	}
	return Apply(ctx, p, &ApplyOptions{JournalDir: opts.JournalDir, HomeTrash: opts.HomeTrash, Yes: opts.Yes, Now: opts.Now}, log)
}

// Apply carries out plan p. Before each file it checks that the file and
// its group's keeper are still what the plan recorded (size, modification
// time and content hash) and regular files; otherwise the file is skipped
// with a reason, as are protected files, and the rest is done. Deleted
// files go to the trash of their own file system (see HomeTrash). With
// Yes, every step is written (and synced) to the run's journal before the
// file is touched, and again when done, so Undo can reverse the run, even
// an interrupted one. One line per step is written to log. When ctx is
// done Apply stops before the next file and returns ctx's error with what
// it did so far (journalled: undo reverses it).
func Apply(ctx context.Context, p *Plan, opts *ApplyOptions, log io.Writer) (Outcome, error) {
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = io.Discard
	}
	out := Outcome{DryRun: !o.Yes}
	if err := p.Validate(); err != nil {
		return out, err
	}
	if o.JournalDir == "" {
		return out, errors.New("apply: no journal folder")
	}
	home := o.HomeTrash
	if home == "" {
		home = HomeTrash(nil)
	}
	since := p.since
	if since == "" {
		since = "the plan was written"
	}
	now := o.Now()
	out.RunID = now.UTC().Format(runIDLayout)
	// The journal is created with the first change, so a run that changes
	// nothing does not hide the previous one from Undo.
	var j *journal
	defer func() {
		if j != nil {
			j.Close()
		}
	}()
	planned := make(map[string]bool)
	for _, g := range p.Groups {
		k := &g.Keeper
		keeperSkip, keeperChecked := "", false
		for i := range g.Members {
			m := &g.Members[i]
			op := p.memberAction(m)
			if op == Keep {
				continue
			}
			if err := ctx.Err(); err != nil {
				return out, err
			}
			s := Step{Seq: len(out.Steps) + 1, Op: op, Path: m.Path, Keeper: k.Path,
				Hash: m.SHA256.String(), KeeperHash: k.SHA256.String(), Size: m.Size}
			if m.Protected || rootOf(m.Path, p.References) >= 0 {
				s.Skip = "under a reference folder"
			}
			switch op {
			case Move:
				s.Base = p.To
				s.Dest = filepath.Join(p.To, relToRoot(m.Path, p.Roots))
				if s.Skip == "" && planned[s.Dest] {
					s.Skip = "another file in this run goes to " + s.Dest
				}
				planned[s.Dest] = true
			case Hardlink:
				if s.Skip == "" && m.SHA256 != k.SHA256 {
					s.Skip = "not byte-identical to the keeper (hard links replace exact copies only)"
				}
			}
			if s.Skip == "" && !keeperChecked {
				keeperSkip, keeperChecked = checkKeeper(k, since), true
			}
			if s.Skip == "" {
				s.Skip = keeperSkip
			}
			if s.Skip == "" {
				s.Skip = check(&s, m, since)
			}
			var td trashDir
			if s.Skip == "" && op == Delete {
				s.Skip = toTrash(&s, &td, home, planned, o.Yes)
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
				if err := perform(&s, out.RunID, td, now); err != nil {
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

// runIDLayout names runs by their start, so that names sort by time.
const runIDLayout = "20060102T150405.000000000Z"

// toTrash picks s's place in the trash of its file system (made when yes)
// or returns why there is none.
func toTrash(s *Step, td *trashDir, home string, planned map[string]bool, yes bool) string {
	t, err := trashFor(s.Path, home, yes)
	if err != nil {
		return "no trash on its file system: " + err.Error()
	}
	file, info, err := t.slot(s.Path, planned)
	if err != nil {
		return err.Error()
	}
	*td = t
	s.Dest, s.Info = file, info
	planned[file] = true
	return ""
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

// checkKeeper returns why the members of k's group cannot be acted on
// now, or "". The keeper must be a file of its own (a symlink to a copy
// would dangle once the copy is gone) and still what was recorded.
func checkKeeper(k *PlanFile, since string) string {
	ks, err := os.Lstat(k.Path)
	if err != nil {
		return "keeper unreadable: " + err.Error()
	}
	if !ks.Mode().IsRegular() {
		return "keeper is not a regular file"
	}
	if why := changed(ks, k, since); why != "" {
		return "keeper " + why
	}
	kh, err := hashFile(k.Path)
	if err != nil {
		return "keeper unreadable: " + err.Error()
	}
	if kh != k.SHA256.String() {
		return "keeper changed since " + since + " (content differs)"
	}
	return ""
}

// check returns why s, for member m, cannot be done now, or "".
func check(s *Step, m *PlanFile, since string) string {
	if s.Path == s.Keeper {
		return "is the keeper"
	}
	st, err := os.Lstat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "no longer exists"
	}
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if !st.Mode().IsRegular() {
		return "not a regular file"
	}
	if why := changed(st, m, since); why != "" {
		return why
	}
	h, err := hashFile(s.Path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if h != s.Hash {
		return "changed since " + since + " (content differs)"
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

// changed says how st differs in size or modification time from what f
// recorded, or "".
func changed(st os.FileInfo, f *PlanFile, since string) string {
	if st.Size() != f.Size {
		return fmt.Sprintf("changed since %s (%d bytes, was %d)", since, st.Size(), f.Size)
	}
	if !st.ModTime().Equal(f.ModTime) {
		return fmt.Sprintf("changed since %s (modified %s, was %s)", since,
			st.ModTime().UTC().Format(time.RFC3339Nano), f.ModTime.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

func perform(s *Step, runID string, td trashDir, now time.Time) error {
	switch s.Op {
	case Move:
		return moveFile(s.Path, s.Dest)
	case Delete:
		return trashFile(s.Path, s.Dest, s.Info, td.top, now)
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

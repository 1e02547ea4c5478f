package dedup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/simsearch/simsearch/internal/store"
)

// PlanVersion is the version of the plan format that WritePlan writes and
// ReadPlan reads.
const PlanVersion = 1

// Keep is a plan member's action that leaves the file as it is. It is not
// an ActOptions.Action: use Report to act on nothing.
const Keep Action = "keep"

// ErrPlan is returned, wrapped with what is wrong and where, for a plan
// that cannot be applied as written.
var ErrPlan = errors.New("invalid plan")

// Plan is what a dedup run is to do, written as JSON (WritePlan) for a
// person or a program to review and edit before Apply carries it out:
//
//	{
//	  "version": 1,
//	  "created": "2026-05-09T10:11:12.345Z",
//	  "database": "/home/ann/.local/share/simsearch/simsearch.db",
//	  "action": "delete",
//	  "roots": ["/home/ann/Pictures"],
//	  "groups": [
//	    {
//	      "group": 1,
//	      "keeper": {"path": "/home/ann/Pictures/cat.jpg", "sha256": "9f86…", "size": 2481034,
//	                 "mtime": "2019-05-02T10:11:12.5Z", "width": 4000, "height": 3000, "format": "jpeg"},
//	      "members": [
//	        {"path": "/home/ann/Pictures/old/cat.jpg", "sha256": "9f86…", "size": 2481034,
//	         "mtime": "2021-01-01T00:00:00Z", "width": 4000, "height": 3000, "format": "jpeg",
//	         "score": 1, "reason": "exact", "action": "delete"}
//	      ]
//	    }
//	  ]
//	}
//
// "action" is what the plan was made for, and the action of a member that
// gives none; "to" is the folder of move actions (required when a member
// moves); "roots" are the folders a moved file keeps its path below. A
// member's "action" is keep (leave it), move, delete (to the trash of its
// file system) or hardlink (exact copies only). "protected" marks a file
// under a reference folder: it is never acted on, whatever its action.
//
// What may be edited: swap the keeper with one of its members (move the
// two objects: a keeper's action, if any, must be keep), drop groups or
// members, change a member's action, and "to". "sha256", "size" and
// "mtime" are what the files were when the plan was written: Apply refuses
// a file (and every member of a group whose keeper) no longer matches
// them, with the reason, and does the rest. "score", "reason", "width",
// "height" and "format" are for the reader and are not checked.
//
// ReadPlan refuses, naming the group, a plan of another version, unknown
// fields, a path that is not absolute and clean, a file that is in two
// groups or both keeper and member, a file without its sha256, size or
// mtime, and an unknown action.
type Plan struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Database string    `json:"database,omitempty"`
	Action   Action    `json:"action"`
	To       string    `json:"to,omitempty"`
	Roots    []string  `json:"roots,omitempty"`
	// References are the reference folders of the run: no file under
	// them is acted on, whether or not it is marked protected.
	References []string    `json:"references,omitempty"`
	Groups     []PlanGroup `json:"groups"`

	since string // what the recorded sizes, times and hashes date from, for skip reasons
}

// PlanGroup is one group of a plan: its keeper and its other copies.
type PlanGroup struct {
	ID      int        `json:"group,omitempty"` // the group's number in the report; errors name it
	Keeper  PlanFile   `json:"keeper"`
	Members []PlanFile `json:"members"`
}

// PlanFile is a keeper or a member of a plan's group. Keepers and members
// have the same fields so that swapping them is moving two objects.
type PlanFile struct {
	Path      string     `json:"path"`
	SHA256    store.Hash `json:"sha256"`
	Size      int64      `json:"size"`
	ModTime   time.Time  `json:"mtime"`
	Width     int        `json:"width,omitempty"`
	Height    int        `json:"height,omitempty"`
	Format    string     `json:"format,omitempty"`
	Protected bool       `json:"protected,omitempty"` // under a reference folder: never acted on
	Score     float32    `json:"score,omitempty"`     // cosine to the keeper when the plan was made
	Reason    Reason     `json:"reason,omitempty"`
	Action    Action     `json:"action,omitempty"` // members: keep, move, delete or hardlink; "" means the plan's action
}

// planFile is a plan's record of an item.
func planFile(it *store.Item) PlanFile {
	return PlanFile{Path: it.Path, SHA256: it.Hash, Size: it.Size, ModTime: time.Unix(0, it.ModTime).UTC(),
		Width: it.Width, Height: it.Height, Format: it.Format}
}

// NewPlan is the plan for acting on groups as opts say (Action, To, Roots
// and Now; a Report action plans to keep every file): each member gets
// opts.Action, and each file the size, modification time and hash the
// groups recorded. Apply checks the files against them.
func NewPlan(groups []Group, opts *ActOptions) (*Plan, error) {
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Action == "" {
		o.Action = Report
	}
	if _, err := ParseAction(string(o.Action)); err != nil {
		return nil, err
	}
	if o.Action == Move && o.To == "" {
		return nil, errors.New("plan: move needs a destination folder")
	}
	refs := make([]string, len(o.References))
	for i, r := range o.References {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, err
		}
		refs[i] = a
	}
	o.References = refs
	if o.To != "" {
		to, err := filepath.Abs(o.To)
		if err != nil {
			return nil, err
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
	p := &Plan{Version: PlanVersion, Created: o.Now().UTC(), Action: o.Action, To: o.To, Roots: o.Roots,
		References: o.References, Groups: make([]PlanGroup, 0, len(groups)), since: "indexing"}
	act := o.Action
	if act == Report {
		act = Keep
	}
	for i, g := range groups {
		pg := PlanGroup{ID: i + 1, Keeper: planFile(&g.Keeper)}
		pg.Keeper.Protected = g.KeeperProtected
		for _, m := range g.Members {
			f := planFile(&m.Item)
			f.Score, f.Reason, f.Action, f.Protected = m.Score, m.Reason, act, m.Protected
			if m.Pair {
				f.Action = Keep // the raw file's own JPEG or HEIF
			}
			pg.Members = append(pg.Members, f)
		}
		p.Groups = append(p.Groups, pg)
	}
	return p, nil
}

// WritePlan writes p as indented JSON.
func WritePlan(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	q := *p
	if q.Groups == nil {
		q.Groups = []PlanGroup{}
	}
	return enc.Encode(&q)
}

// ReadPlan reads a plan that WritePlan wrote, or a person or a program
// edited, and validates it (see Plan). Every problem is one line of the
// error, which wraps ErrPlan.
func ReadPlan(r io.Reader) (*Plan, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPlan, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the plan's closing brace", ErrPlan)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.since = "the plan was written"
	return &p, nil
}

// Validate reports what keeps p from being applied as written, one line
// per problem (at most 20), each naming its group; nil when p is sound.
// The error wraps ErrPlan.
func (p *Plan) Validate() error {
	if p.Version != PlanVersion {
		if p.Version == 0 {
			return fmt.Errorf("%w: no version: not a simsearch dedup plan", ErrPlan)
		}
		return fmt.Errorf("%w: version %d: this simsearch reads version %d", ErrPlan, p.Version, PlanVersion)
	}
	var problems []error
	bad := func(format string, a ...any) {
		problems = append(problems, fmt.Errorf("%w: "+format, append([]any{ErrPlan}, a...)...))
	}
	if _, err := ParseAction(string(p.Action)); err != nil || p.Action == "" {
		bad("action %q: want report, move, delete or hardlink", p.Action)
	}
	if p.To != "" && !cleanAbs(p.To) {
		bad("to %q: not an absolute, clean path", p.To)
	}
	for _, r := range p.Roots {
		if !cleanAbs(r) {
			bad("root %q: not an absolute, clean path", r)
		}
	}
	in := make(map[string]int) // path → the group that has it
	for i := range p.Groups {
		g := &p.Groups[i]
		id := g.ID
		if id == 0 {
			id = i + 1
		}
		file := func(f *PlanFile, keeper bool) {
			switch {
			case !cleanAbs(f.Path):
				bad("group %d: path %q: not an absolute, clean path", id, f.Path)
				return
			case f.SHA256 == store.Hash{}:
				bad("group %d: %s: no sha256", id, f.Path)
			case f.ModTime.IsZero():
				bad("group %d: %s: no mtime", id, f.Path)
			case f.Size < 0:
				bad("group %d: %s: size %d", id, f.Path, f.Size)
			}
			if other, ok := in[f.Path]; ok {
				if other == id {
					bad("group %d: %s is in it twice (a keeper that is also a member?)", id, f.Path)
				} else {
					bad("group %d: %s is also in group %d", id, f.Path, other)
				}
			}
			in[f.Path] = id
			switch {
			case keeper && f.Action != "" && f.Action != Keep:
				bad("group %d: keeper %s has action %s: a keeper is never acted on", id, f.Path, f.Action)
			case !keeper && f.Action != "" && f.Action != Keep && f.Action != Move && f.Action != Delete && f.Action != Hardlink:
				bad("group %d: %s: action %q: want keep, move, delete or hardlink", id, f.Path, f.Action)
			case !keeper && p.memberAction(f) == Move && p.To == "":
				bad("group %d: %s: action move, but the plan has no \"to\" folder", id, f.Path)
			}
		}
		file(&g.Keeper, true)
		for j := range g.Members {
			file(&g.Members[j], false)
		}
	}
	if len(problems) > 20 {
		n := len(problems) - 20
		problems = append(problems[:20], fmt.Errorf("%w: and %d more problems", ErrPlan, n))
	}
	return errors.Join(problems...)
}

// memberAction is what happens to member f: its own action, else the
// plan's (keep for a report plan).
func (p *Plan) memberAction(f *PlanFile) Action {
	a := f.Action
	if a == "" {
		a = p.Action
	}
	if a == Report || a == "" {
		a = Keep
	}
	return a
}

// Counts returns how many members the plan acts on, by action.
func (p *Plan) Counts() map[Action]int {
	n := make(map[Action]int)
	for _, g := range p.Groups {
		for i := range g.Members {
			if a := p.memberAction(&g.Members[i]); a != Keep {
				n[a]++
			}
		}
	}
	return n
}

func cleanAbs(p string) bool { return filepath.IsAbs(p) && filepath.Clean(p) == p }

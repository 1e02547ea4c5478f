package dedup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/store"
)

// writeItem writes content to path and returns the item an index run
// would record for it.
func writeItem(t *testing.T, path, content string) store.Item {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return store.Item{Path: path, Size: st.Size(), ModTime: st.ModTime().UnixNano(), Hash: sha256Of(content), Width: 10, Height: 10, Format: "jpeg"}
}

func sha256Of(s string) store.Hash { return sha256.Sum256([]byte(s)) }

// editPlan round-trips p through its JSON as a generic value, the way a
// script or a person edits it.
func editPlan(t *testing.T, p *Plan, edit func(m map[string]any)) *Plan {
	t.Helper()
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	q, err := ReadPlan(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("read the edited plan: %v\n%s", err, out)
	}
	return q
}

func groupsOf(m map[string]any) []any { return m["groups"].([]any) }

func TestPlan_WriteReadRoundTrip(t *testing.T) {
	tr := newTree(t)
	p, err := NewPlan(tr.groups, &ActOptions{Action: Delete, Roots: []string{tr.root}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version": 1`, `"action": "delete"`, `"created": "2026-01-01T00:00:00Z"`, `"sha256": "`, `"mtime": "2020-01-02T03:04:05Z"`, `"reason": "near"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %s:\n%s", want, b.String())
		}
	}
	q, err := ReadPlan(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var c bytes.Buffer
	if err := WritePlan(&c, q); err != nil {
		t.Fatal(err)
	}
	if c.String() != b.String() {
		t.Fatalf("plan changed on a round trip:\n%s\nthen\n%s", b.String(), c.String())
	}
	if n := q.Counts(); n[Delete] != 3 || len(n) != 1 {
		t.Errorf("counts %v, want 3 deletes", n)
	}
}

func TestReadPlan_Rejects(t *testing.T) {
	tr := newTree(t)
	p, err := NewPlan(tr.groups, &ActOptions{Action: Delete, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	member := func(m map[string]any, g, i int) map[string]any {
		return groupsOf(m)[g].(map[string]any)["members"].([]any)[i].(map[string]any)
	}
	keeper := func(m map[string]any, g int) map[string]any {
		return groupsOf(m)[g].(map[string]any)["keeper"].(map[string]any)
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		raw  func(s string) string
		want string
	}{
		{name: "no version", edit: func(m map[string]any) { delete(m, "version") }, want: "no version"},
		{name: "newer version", edit: func(m map[string]any) { m["version"] = 2 }, want: "version 2: this simsearch reads version 1"},
		{name: "keeper also a member", edit: func(m map[string]any) { member(m, 0, 1)["path"] = keeper(m, 0)["path"] }, want: "group 1: " + tr.groups[0].Keeper.Path + " is in it twice"},
		{name: "file in two groups", edit: func(m map[string]any) { member(m, 1, 0)["path"] = member(m, 0, 0)["path"] }, want: "group 2: " + tr.groups[0].Members[0].Path + " is also in group 1"},
		{name: "relative path", edit: func(m map[string]any) { member(m, 1, 0)["path"] = "photos/y.jpg" }, want: `group 2: path "photos/y.jpg": not an absolute, clean path`},
		{name: "unclean path", edit: func(m map[string]any) { member(m, 0, 0)["path"] = tr.root + "/sub/../keep.jpg" }, want: "group 1: path"},
		{name: "unknown action", edit: func(m map[string]any) { member(m, 0, 0)["action"] = "shred" }, want: `group 1: ` + tr.groups[0].Members[0].Path + `: action "shred"`},
		{name: "keeper acted on", edit: func(m map[string]any) { keeper(m, 1)["action"] = "delete" }, want: "group 2: keeper " + tr.groups[1].Keeper.Path + " has action delete"},
		{name: "move without to", edit: func(m map[string]any) { member(m, 0, 1)["action"] = "move" }, want: `action move, but the plan has no "to" folder`},
		{name: "no sha256", edit: func(m map[string]any) { delete(member(m, 0, 0), "sha256") }, want: "group 1: " + tr.groups[0].Members[0].Path + ": no sha256"},
		{name: "bad sha256", edit: func(m map[string]any) { member(m, 0, 0)["sha256"] = "abc" }, want: "sha256 of 3 hex digits"},
		{name: "no mtime", edit: func(m map[string]any) { delete(keeper(m, 0), "mtime") }, want: "group 1: " + tr.groups[0].Keeper.Path + ": no mtime"},
		{name: "unknown field", edit: func(m map[string]any) { member(m, 0, 0)["acton"] = "keep" }, want: `unknown field "acton"`},
		{name: "plan action", edit: func(m map[string]any) { m["action"] = "erase" }, want: `action "erase"`},
		{name: "group ids name groups", edit: func(m map[string]any) {
			groupsOf(m)[1].(map[string]any)["group"] = 7
			member(m, 1, 0)["path"] = "y.jpg"
		}, want: `group 7: path "y.jpg"`},
		{name: "trailing data", raw: func(s string) string { return s + "{}" }, want: "data after the plan"},
		{name: "not json", raw: func(s string) string { return s[:len(s)/2] }, want: "invalid plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			if tt.raw != nil {
				in = tt.raw(in)
			} else {
				var m map[string]any
				if err := json.Unmarshal([]byte(good), &m); err != nil {
					t.Fatal(err)
				}
				tt.edit(m)
				out, _ := json.Marshal(m)
				in = string(out)
			}
			_, err := ReadPlan(strings.NewReader(in))
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrPlan) {
				t.Errorf("error %v does not wrap ErrPlan", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n"); n != 0 {
				t.Errorf("error spans %d lines, want one problem per line:\n%v", n+1, err)
			}
		})
	}
}

func TestReadPlan_EveryProblemOneLine(t *testing.T) {
	tr := newTree(t)
	p, _ := NewPlan(tr.groups, &ActOptions{Action: Delete})
	p.Groups[0].Members[0].Path = "a.jpg"
	p.Groups[1].Members[0].Action = "shred"
	err := p.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "group 1:") || !strings.Contains(lines[1], "group 2:") {
		t.Fatalf("want one line per problem, each naming its group:\n%v", err)
	}
}

// A plan edited by hand is carried out exactly as edited: a swapped
// keeper stays, a member set to keep stays, a dropped group is not
// touched; undo then restores the tree byte for byte.
func TestApply_EditedPlan(t *testing.T) {
	tr := newTree(t)
	before := snapshot(t, tr.root)
	p, err := NewPlan(tr.groups, &ActOptions{Action: Delete, Roots: []string{tr.root}})
	if err != nil {
		t.Fatal(err)
	}
	keep, near := tr.groups[0].Keeper.Path, tr.groups[0].Members[1].Path
	q := editPlan(t, p, func(m map[string]any) {
		g := groupsOf(m)[0].(map[string]any)
		members := g["members"].([]any)
		// Keep the near copy instead of the keeper: swap the two objects.
		k := g["keeper"].(map[string]any)
		g["keeper"] = members[1]
		delete(members[1].(map[string]any), "action")
		members[1] = k
		// The exact copy stays too.
		members[0].(map[string]any)["action"] = "keep"
		// And the second group is not touched at all.
		m["groups"] = groupsOf(m)[:1]
	})
	var log strings.Builder
	out, err := Apply(context.Background(), q, &ApplyOptions{JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 1 || out.Changed[0] != keep {
		t.Fatalf("changed %q, want only the old keeper %s\n%s", out.Changed, keep, log.String())
	}
	for _, p := range []string{near, tr.groups[0].Members[0].Path, tr.groups[1].Keeper.Path, tr.groups[1].Members[0].Path} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s is gone: %v", p, err)
		}
	}
	if _, err := os.Stat(keep); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old keeper is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tr.trash, "files", "keep.jpg")); err != nil {
		t.Errorf("not in the trash: %v", err)
	}
	res, err := Undo(tr.journal, nil)
	if err != nil || len(res.Problems) > 0 || len(res.Restored) != 1 {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatalf("undo did not restore the tree:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// Files that changed after the plan was written are refused, each with
// its reason, and the rest of the plan is done.
func TestApply_RefusesFilesChangedSincePlan(t *testing.T) {
	tr := newTree(t)
	p, err := NewPlan(tr.groups, &ActOptions{Action: Move, To: tr.to, Roots: []string{tr.root}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	// After the plan: one copy is touched (same bytes, new time), the
	// other group's keeper gets new bytes of the same size.
	copyPath := tr.groups[0].Members[0].Path
	later := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(copyPath, later, later); err != nil {
		t.Fatal(err)
	}
	k2 := tr.groups[1].Keeper.Path
	st, _ := os.Stat(k2)
	if err := os.WriteFile(k2, []byte("OTHER KEEPER"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(k2, st.ModTime(), st.ModTime())
	q, err := ReadPlan(&b)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	out, err := Apply(context.Background(), q, &ApplyOptions{JournalDir: tr.journal, Yes: true}, &log)
	if err != nil {
		t.Fatal(err)
	}
	near := tr.groups[0].Members[1].Path
	if len(out.Changed) != 1 || out.Changed[0] != near {
		t.Fatalf("changed %q, want only %s\n%s", out.Changed, near, log.String())
	}
	want := map[string]string{
		copyPath:                     "changed since the plan was written (modified 2024-05-06T07:08:09Z, was 2020-01-02T03:04:05Z)",
		tr.groups[1].Members[0].Path: "keeper changed since the plan was written (content differs)",
	}
	for _, s := range out.Steps {
		if w, ok := want[s.Path]; ok && s.Skip != w {
			t.Errorf("%s skipped for %q, want %q", s.Path, s.Skip, w)
		}
	}
	// Applied again, the moved file is no longer there.
	again, err := Apply(context.Background(), q, &ApplyOptions{JournalDir: tr.journal}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again.Steps {
		if s.Path == near && s.Skip != "no longer exists" {
			t.Errorf("second apply: %s skipped for %q", near, s.Skip)
		}
	}
	if !strings.Contains(log.String(), "skip "+copyPath+": changed since the plan was written") {
		t.Errorf("log does not say why:\n%s", log.String())
	}
	if _, err := os.Stat(copyPath); err != nil {
		t.Errorf("refused file touched: %v", err)
	}
}

// A protected member (under a reference folder) is never acted on, even
// when a plan gives it an action.
func TestApply_ProtectedNeverActedOn(t *testing.T) {
	tr := newTree(t)
	p, err := NewPlan(tr.groups, &ActOptions{Action: Delete})
	if err != nil {
		t.Fatal(err)
	}
	q := editPlan(t, p, func(m map[string]any) {
		mem := groupsOf(m)[0].(map[string]any)["members"].([]any)[0].(map[string]any)
		mem["protected"] = true
		mem["action"] = "delete"
	})
	out, err := Apply(context.Background(), q, &ApplyOptions{JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prot := tr.groups[0].Members[0].Path
	if out.Steps[0].Path != prot || out.Steps[0].Skip != "under a reference folder" {
		t.Fatalf("step %+v, want the protected file skipped", out.Steps[0])
	}
	if _, err := os.Stat(prot); err != nil {
		t.Fatalf("protected file gone: %v", err)
	}
	if len(out.Changed) != 2 {
		t.Errorf("changed %q, want the two others", out.Changed)
	}
}

// A cancelled context stops a run before its next file; what was done is
// journalled and undoes.
func TestApply_StopsWhenCancelled(t *testing.T) {
	tr := newTree(t)
	before := snapshot(t, tr.root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, _ := NewPlan(tr.groups, &ActOptions{Action: Delete})
	out, err := Apply(ctx, p, &ApplyOptions{JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, cancelAfter{cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(out.Changed) != 1 || len(out.Steps) != 1 {
		t.Fatalf("outcome %+v, want one file done before the stop", out)
	}
	if _, err := Undo(tr.journal, nil); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatalf("not restored:\n%s\n%s", before, after)
	}
}

// cancelAfter cancels its context on the first line logged.
type cancelAfter struct{ cancel context.CancelFunc }

func (c cancelAfter) Write(p []byte) (int, error) { c.cancel(); return len(p), nil }

func FuzzReadPlan(f *testing.F) {
	f.Add([]byte(`{"version":1,"action":"delete","groups":[]}`))
	f.Add([]byte(`{"version":1,"action":"move","to":"/d","groups":[{"group":1,"keeper":{"path":"/a","sha256":"` + strings.Repeat("ab", 32) +
		`","size":1,"mtime":"2020-01-01T00:00:00Z"},"members":[{"path":"/b","sha256":"` + strings.Repeat("cd", 32) +
		`","size":2,"mtime":"2020-01-01T00:00:00Z","action":"move"}]}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ReadPlan(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrPlan) {
				t.Fatalf("error %v does not wrap ErrPlan", err)
			}
			return
		}
		// What is accepted writes back to a plan that is accepted again.
		var w bytes.Buffer
		if err := WritePlan(&w, p); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPlan(&w); err != nil {
			t.Fatalf("a plan read back is refused: %v\n%s", err, w.String())
		}
	})
}

package simsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/dedup"
)

// A plan of the sample photos, edited as a person would (one group keeps
// another file than simsearch chose), with a photo changed after the plan
// was written: apply does exactly the edit, refuses the changed photo
// and does the rest, the database forgets what went, and undo gives back
// the tree byte for byte.
func TestEngine_PlanEditApplyUndo(t *testing.T) {
	photos := copyPhotos(t)
	base := t.TempDir()
	e := openTestEngine(t, filepath.Join(base, "db", "s.db"))
	ctx := context.Background()
	if _, err := e.Index(ctx, []string{photos}, nil); err != nil {
		t.Fatal(err)
	}
	groups, err := e.Duplicates(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) < 3 {
		t.Fatalf("%d groups; the sample photos have 10", len(groups))
	}
	p, err := e.PlanDuplicates(groups, dedup.ActOptions{Action: dedup.Delete})
	if err != nil {
		t.Fatal(err)
	}
	if p.Database != filepath.Join(base, "db", "s.db") {
		t.Errorf("plan database %q", p.Database)
	}
	var b bytes.Buffer
	if err := dedup.WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	// The edit: group 1 keeps its first member instead of its keeper.
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	g1 := m["groups"].([]any)[0].(map[string]any)
	members := g1["members"].([]any)
	oldKeeper, newKeeper := g1["keeper"].(map[string]any), members[0].(map[string]any)
	g1["keeper"], members[0] = newKeeper, oldKeeper
	delete(newKeeper, "action")
	edited, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// After the plan was written, a copy in group 2 is edited.
	changed := groups[1].Members[0].Path
	f, err := os.OpenFile(changed, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("edited"))
	f.Close()
	before := treeHashes(t, photos)

	q, err := dedup.ReadPlan(bytes.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	out, err := e.ApplyPlan(ctx, q, dedup.ApplyOptions{HomeTrash: filepath.Join(base, "Trash"), Yes: true}, &log)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for _, p := range out.Changed {
		gone[p] = true
	}
	want := 0
	for i, g := range groups {
		keeper := g.Keeper.Path
		if i == 0 {
			keeper = newKeeper["path"].(string)
		}
		if _, err := os.Stat(keeper); err != nil {
			t.Errorf("group %d: keeper %s gone: %v", i+1, keeper, err)
		}
		files := []string{g.Keeper.Path}
		for _, m := range g.Members {
			files = append(files, m.Path)
		}
		for _, p := range files {
			if p == keeper {
				continue
			}
			_, err := os.Stat(p)
			switch {
			case p == changed:
				if err != nil || gone[p] {
					t.Errorf("%s changed after the plan, but was deleted", p)
				}
			case err == nil || !gone[p]:
				t.Errorf("group %d: %s is still there (%v)", i+1, p, err)
			default:
				want++
			}
		}
	}
	if len(out.Changed) != want {
		t.Errorf("%d files changed, want %d", len(out.Changed), want)
	}
	if !strings.Contains(log.String(), "skip "+changed+": changed since the plan was written (") {
		t.Errorf("the refused file's reason is not in the log:\n%s", log.String())
	}
	// The database forgot exactly the files that went.
	for _, g := range groups {
		for _, p := range append([]string{g.Keeper.Path}, memberPaths(g)...) {
			_, ok, err := e.db.ItemByPath(p)
			if err != nil {
				t.Fatal(err)
			}
			if ok == gone[p] {
				t.Errorf("%s: in the database %v, deleted %v", p, ok, gone[p])
			}
		}
	}
	res, err := e.UndoRun(ctx, out.RunID, nil)
	if err != nil || len(res.Problems) > 0 || len(res.Restored) != want {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if after := treeHashes(t, photos); !maps.Equal(after, before) {
		t.Fatalf("undo left %d files, want the %d before, byte for byte", len(after), len(before))
	}
}

func memberPaths(g dedup.Group) []string {
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Path)
	}
	return out
}

package dedup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/store"
)

// tree is a photo folder with a keeper, an exact copy and a near copy,
// and the groups an index would give for it.
type tree struct {
	root, journal, to, trash string
	groups                   []Group
}

func newTree(t *testing.T) *tree {
	t.Helper()
	base := t.TempDir()
	tr := &tree{root: filepath.Join(base, "photos"), journal: filepath.Join(base, "db.journal"), to: filepath.Join(base, "dupes"),
		trash: filepath.Join(base, "share", "Trash")}
	files := map[string]string{
		"keep.jpg":       "keeper bytes",
		"sub/copy.jpg":   "keeper bytes",
		"sub/near.jpg":   "near bytes",
		"alone.jpg":      "unrelated",
		"sub/deep/x.jpg": "other keeper",
		"y.jpg":          "other copy",
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	items := map[string]store.Item{}
	for name, c := range files {
		p := filepath.Join(tr.root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		items[name] = store.Item{Path: p, Hash: sha256.Sum256([]byte(c)), Size: int64(len(c)), ModTime: mt.UnixNano()}
	}
	tr.groups = []Group{
		{Keeper: items["keep.jpg"], Members: []Member{
			{Item: items["sub/copy.jpg"], Score: 1, Reason: Exact},
			{Item: items["sub/near.jpg"], Score: 0.95, Reason: Near},
		}},
		{Keeper: items["sub/deep/x.jpg"], Members: []Member{{Item: items["y.jpg"], Score: 0.9, Reason: Near}}},
	}
	return tr
}

// snapshot describes every file and folder under root: content hash, mode
// and modification time, and whether two paths share an inode.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	var seen []os.FileInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/ %v\n", rel, st.Mode())
			return nil
		}
		c, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		shared := false
		for _, o := range seen {
			shared = shared || os.SameFile(o, st)
		}
		seen = append(seen, st)
		fmt.Fprintf(&b, "%s %x %v %d linked=%v\n", rel, sha256.Sum256(c), st.Mode(), st.ModTime().UnixNano(), shared)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func fixedNow() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func TestAct_DryRunChangesNothing(t *testing.T) {
	for _, a := range []Action{Move, Hardlink, Delete} {
		t.Run(string(a), func(t *testing.T) {
			tr := newTree(t)
			before := snapshot(t, filepath.Dir(tr.root))
			var log strings.Builder
			out, err := Act(context.Background(), tr.groups, &ActOptions{Action: a, To: tr.to, Roots: []string{tr.root}, JournalDir: tr.journal, HomeTrash: tr.trash}, &log)
			if err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, filepath.Dir(tr.root)); after != before {
				t.Fatalf("dry run changed the tree:\nbefore\n%s\nafter\n%s", before, after)
			}
			if !out.DryRun || len(out.Changed) != 0 || len(out.Steps) != 3 {
				t.Fatalf("outcome %+v, want a dry run of 3 steps", out)
			}
			if !strings.Contains(log.String(), "would ") {
				t.Errorf("log does not say what would happen:\n%s", log.String())
			}
		})
	}
}

func TestAct_YesThenUndoRestores(t *testing.T) {
	tests := []struct {
		a       Action
		changed int
	}{
		{Move, 3},
		{Delete, 3},
		{Hardlink, 1}, // only the exact copy
	}
	for _, tt := range tests {
		t.Run(string(tt.a), func(t *testing.T) {
			tr := newTree(t)
			before := snapshot(t, tr.root)
			out, err := Act(context.Background(), tr.groups, &ActOptions{Action: tt.a, To: tr.to, Roots: []string{tr.root}, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: fixedNow}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Changed) != tt.changed {
				t.Fatalf("changed %q, want %d files; steps %+v", out.Changed, tt.changed, out.Steps)
			}
			for _, g := range tr.groups {
				if _, err := os.Stat(g.Keeper.Path); err != nil {
					t.Fatalf("keeper touched: %v", err)
				}
			}
			mid := snapshot(t, tr.root)
			if mid == before {
				t.Fatal("--yes changed nothing")
			}
			switch tt.a {
			case Move:
				if c, err := os.ReadFile(filepath.Join(tr.to, "photos", "sub", "near.jpg")); err != nil || string(c) != "near bytes" {
					t.Fatalf("moved file: %q, %v", c, err)
				}
			case Hardlink:
				a, _ := os.Stat(tr.groups[0].Keeper.Path)
				b, _ := os.Stat(tr.groups[0].Members[0].Path)
				if !os.SameFile(a, b) {
					t.Fatal("exact copy is not a hard link to the keeper")
				}
			}
			res, err := Undo(tr.journal, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != 0 || len(res.Restored) != tt.changed {
				t.Fatalf("undo %+v", res)
			}
			if after := snapshot(t, tr.root); after != before {
				t.Fatalf("undo did not restore the tree:\nbefore\n%s\nafter\n%s", before, after)
			}
			if _, err := Undo(tr.journal, nil); !errors.Is(err, ErrNoRun) {
				t.Errorf("second undo: %v, want ErrNoRun", err)
			}
		})
	}
}

func TestAct_SkipsWhatChanged(t *testing.T) {
	tr := newTree(t)
	near := tr.groups[0].Members[1].Path
	if err := os.WriteFile(near, []byte("edited after indexing"), 0o640); err != nil {
		t.Fatal(err)
	}
	// The second group's keeper is gone: its copy is now the last one.
	if err := os.Remove(tr.groups[1].Keeper.Path); err != nil {
		t.Fatal(err)
	}
	// A file already at the destination is never overwritten.
	dest := filepath.Join(tr.to, "photos", "sub", "copy.jpg")
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(tr.root))
	out, err := Act(context.Background(), tr.groups, &ActOptions{Action: Move, To: tr.to, Roots: []string{tr.root}, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 0 {
		t.Fatalf("acted on %q", out.Changed)
	}
	want := []string{"destination exists", "changed since indexing", "keeper unreadable"}
	for i, s := range out.Steps {
		if !strings.Contains(s.Skip, want[i]) {
			t.Errorf("step %s skipped for %q, want %q", s.Path, s.Skip, want[i])
		}
	}
	// Nothing changed, and no journal was started for a run that did nothing.
	if after := snapshot(t, filepath.Dir(tr.root)); after != before {
		t.Fatalf("skipped files changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if _, err := Undo(tr.journal, nil); !errors.Is(err, ErrNoRun) {
		t.Errorf("undo after a run that changed nothing: %v, want ErrNoRun", err)
	}
}

func TestAct_HardlinkNeedsExactCopy(t *testing.T) {
	tr := newTree(t)
	out, err := Act(context.Background(), tr.groups[:1], &ActOptions{Action: Hardlink, JournalDir: tr.journal, HomeTrash: tr.trash}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Steps[0].Skip != "" || !strings.Contains(out.Steps[1].Skip, "byte-identical") {
		t.Fatalf("steps %+v: the exact copy should be linked, the near one skipped", out.Steps)
	}
}

func TestUndo_InterruptedRun(t *testing.T) {
	tr := newTree(t)
	before := snapshot(t, tr.root)
	if _, err := Act(context.Background(), tr.groups, &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: fixedNow}, nil); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash after the last "begin" but before its file moved:
	// put the last file back by hand and cut the journal's final line.
	runs, _ := filepath.Glob(filepath.Join(tr.journal, "*.jsonl"))
	b, err := os.ReadFile(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if err := os.WriteFile(runs[0], []byte(strings.Join(lines[:len(lines)-2], "")+`{"state":"do`), 0o644); err != nil {
		t.Fatal(err)
	}
	last := tr.groups[1].Members[0].Path
	steps, _, _ := readJournal(runs[0])
	if err := os.Rename(steps[len(steps)-1].Dest, last); err != nil {
		t.Fatal(err)
	}
	res, err := Undo(tr.journal, nil)
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("undo: %+v, %v", res, err)
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatalf("tree not restored:\nbefore\n%s\nafter\n%s", before, after)
	}
}

func TestAct_KeeperSymlinkToCopyIsSkipped(t *testing.T) {
	tr := newTree(t)
	g := tr.groups[0]
	g.Members = g.Members[:1]
	// The keeper becomes a symlink to its copy: removing the copy would
	// leave no copy at all.
	if err := os.Remove(g.Keeper.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(g.Members[0].Path, g.Keeper.Path); err != nil {
		t.Fatal(err)
	}
	out, err := Act(context.Background(), []Group{g}, &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 0 || !strings.Contains(out.Steps[0].Skip, "keeper is not a regular file") {
		t.Fatalf("steps %+v, want the copy skipped", out.Steps)
	}
	if _, err := os.Stat(g.Members[0].Path); err != nil {
		t.Fatalf("copy gone: %v", err)
	}
}

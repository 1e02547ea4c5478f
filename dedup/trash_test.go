package dedup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTrashInfo(t *testing.T) {
	local := func(s string) time.Time {
		tm, err := time.ParseInLocation(trashInfoDate, s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		in      string
		path    string
		deleted time.Time
		err     string
	}{
		{in: "[Trash Info]\nPath=/home/ann/Pictures/cat%20%C3%A9.jpg\nDeletionDate=2026-05-09T10:11:12\n", path: "/home/ann/Pictures/cat é.jpg", deleted: local("2026-05-09T10:11:12")},
		{in: "# a comment\n\n[Trash Info]\r\nPath=photos/a.jpg\r\nDeletionDate=2004-08-31T22:32:08\r\n[Other]\nPath=x\n", path: "photos/a.jpg", deleted: local("2004-08-31T22:32:08")},
		{in: "[Trash Info]\nDeletionDate=2004-08-31T22:32:08\n", err: "no Path"},
		{in: "[Trash Info]\nPath=/a\n", err: "no DeletionDate"},
		{in: "[Desktop Entry]\nPath=/a\n", err: "does not start with [Trash Info]"},
		{in: "Path=/a\n", err: "does not start with [Trash Info]"},
		{in: "[Trash Info]\nPath=/a%2\nDeletionDate=2004-08-31T22:32:08\n", err: "truncated escape"},
		{in: "[Trash Info]\nPath=/a%zz\nDeletionDate=2004-08-31T22:32:08\n", err: "bad escape"},
		{in: "[Trash Info]\nPath=/a\nDeletionDate=yesterday\n", err: "DeletionDate"},
		{in: "[Trash Info]\nPath\n", err: "not KEY=VALUE"},
		{in: "", err: "no [Trash Info] group"},
	}
	for _, tt := range tests {
		ti, err := ParseTrashInfo([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || ti.Path != tt.path || !ti.Deleted.Equal(tt.deleted) {
			t.Errorf("%q: %+v %v, want %s at %v", tt.in, ti, err, tt.path, tt.deleted)
		}
	}
}

func FuzzParseTrashInfo(f *testing.F) {
	f.Add([]byte("[Trash Info]\nPath=/home/ann/a%20b.jpg\nDeletionDate=2026-05-09T10:11:12\n"), "/x/y z.jpg")
	f.Add([]byte("[Trash Info]\nPath=%\n"), "rel/%41")
	f.Fuzz(func(t *testing.T, b []byte, path string) {
		ParseTrashInfo(b) // never panics
		if path == "" || strings.ContainsAny(path, "\x00") {
			return
		}
		// Every path written reads back as itself.
		when := time.Date(2026, 5, 9, 10, 11, 12, 0, time.Local)
		ti, err := ParseTrashInfo(formatTrashInfo(path, when))
		if err != nil || ti.Path != path || !ti.Deleted.Equal(when) {
			t.Fatalf("%q: read back %+v, %v", path, ti, err)
		}
	})
}

// checkTrashed asserts that the file deleted from orig is files/NAME of
// the trash folder dir with a valid info/NAME.trashinfo whose Path is
// want, and returns NAME.
func checkTrashed(t *testing.T, s Step, dir, orig, want, content string, from, to time.Time) string {
	t.Helper()
	name := filepath.Base(s.Dest)
	if s.Dest != filepath.Join(dir, "files", name) || s.Info != filepath.Join(dir, "info", name+".trashinfo") {
		t.Fatalf("%s went to %s (info %s), want %s/files/", orig, s.Dest, s.Info, dir)
	}
	if b, err := os.ReadFile(s.Dest); err != nil || string(b) != content {
		t.Fatalf("trashed file: %q %v", b, err)
	}
	b, err := os.ReadFile(s.Info)
	if err != nil {
		t.Fatal(err)
	}
	ti, err := ParseTrashInfo(b)
	if err != nil {
		t.Fatalf("%s: %v\n%s", s.Info, err, b)
	}
	if ti.Path != want {
		t.Errorf("%s: Path=%s, want %s", s.Info, ti.Path, want)
	}
	if ti.Deleted.Before(from.Truncate(time.Second)) || ti.Deleted.After(to) {
		t.Errorf("%s: DeletionDate %v, not between %v and %v", s.Info, ti.Deleted, from, to)
	}
	if _, err := os.Lstat(orig); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", orig, err)
	}
	return name
}

// Files on the home trash's file system go to the home trash with
// absolute paths; two files of one name get two names.
func TestDelete_HomeTrash(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "share", "Trash")
	a := writeItem(t, filepath.Join(base, "photos", "cat.jpg"), "cat")
	b := writeItem(t, filepath.Join(base, "photos", "old", "cat.jpg"), "cat copy")
	c := writeItem(t, filepath.Join(base, "photos", "new", "cat.jpg"), "cat copy 2")
	groups := []Group{{Keeper: a, Members: []Member{{Item: b, Score: 0.9, Reason: Near}, {Item: c, Score: 0.9, Reason: Near}}}}
	from := time.Now()
	out, err := Act(context.Background(), groups, &ActOptions{Action: Delete, JournalDir: filepath.Join(base, "j"), HomeTrash: home, Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 2 {
		t.Fatalf("steps %+v", out.Steps)
	}
	n1 := checkTrashed(t, out.Steps[0], home, b.Path, b.Path, "cat copy", from, time.Now())
	n2 := checkTrashed(t, out.Steps[1], home, c.Path, c.Path, "cat copy 2", from, time.Now())
	if n1 != "cat.jpg" || n2 != "cat.2.jpg" {
		t.Errorf("names %s, %s; want cat.jpg, cat.2.jpg", n1, n2)
	}
	if st, err := os.Stat(home); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("home trash: %v %v, want a 0700 folder", st, err)
	}
	// A third run picks the next free name, past those on disk.
	d := writeItem(t, filepath.Join(base, "photos", "x", "cat.jpg"), "cat copy 3")
	out, err = Act(context.Background(), []Group{{Keeper: a, Members: []Member{{Item: d}}}}, &ActOptions{Action: Delete, JournalDir: filepath.Join(base, "j"), HomeTrash: home, Yes: true}, nil)
	if err != nil || len(out.Changed) != 1 || filepath.Base(out.Steps[0].Dest) != "cat.3.jpg" {
		t.Fatalf("third: %+v %v", out.Steps, err)
	}
}

// A dry run creates no trash and says where files would go.
func TestDelete_DryRunMakesNoTrash(t *testing.T) {
	tr := newTree(t)
	var log strings.Builder
	out, err := Act(context.Background(), tr.groups, &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tr.trash); !os.IsNotExist(err) {
		t.Fatalf("a dry run made the trash: %v", err)
	}
	if !strings.Contains(log.String(), "would delete (to trash) "+tr.groups[0].Members[0].Path+" -> "+filepath.Join(tr.trash, "files", "copy.jpg")) {
		t.Errorf("log:\n%s", log.String())
	}
	if len(out.Changed) != 0 {
		t.Errorf("changed %q", out.Changed)
	}
}

// Undo of a run after a newer run, runs listing their states, and a file
// that a newer run moved again reported, not clobbered.
func TestUndo_AnyRunInAnyOrder(t *testing.T) {
	tr := newTree(t)
	before := snapshot(t, tr.root)
	ctx := context.Background()
	clock := fixedNow()
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	opts := func(a Action) *ActOptions {
		return &ActOptions{Action: a, To: tr.to, Roots: []string{tr.root}, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: now}
	}
	// Run 1 moves the first group's copies; run 2 deletes the second's.
	r1, err := Act(ctx, tr.groups[:1], opts(Move), nil)
	if err != nil || len(r1.Changed) != 2 {
		t.Fatalf("run 1: %+v %v", r1, err)
	}
	r2, err := Act(ctx, tr.groups[1:], opts(Delete), nil)
	if err != nil || len(r2.Changed) != 1 {
		t.Fatalf("run 2: %+v %v", r2, err)
	}
	// Run 3 deletes a file where run 1 moved it.
	moved := writeItemAt(t, r1.Steps[0].Dest)
	r3, err := Act(ctx, []Group{{Keeper: tr.groups[0].Keeper, Members: []Member{{Item: moved}}}}, opts(Delete), nil)
	if err != nil || len(r3.Changed) != 1 {
		t.Fatalf("run 3: %+v %v", r3, err)
	}
	runs, err := Runs(tr.journal)
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if runs[0].Action != "move" || runs[0].Files != 2 || runs[0].Bytes != int64(len("keeper bytes")+len("near bytes")) || runs[0].State != RunDone {
		t.Errorf("run 1 listed as %+v", runs[0])
	}
	// Undo run 1 first: the copy run 3 took from where run 1 left it is
	// reported, and run 1 stays undoable.
	res, err := UndoRun(ctx, tr.journal, r1.RunID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Restored) != 1 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "run "+r3.RunID+" moved it again; undo that run first") {
		t.Fatalf("undo run 1: %+v", res)
	}
	// Undo run 2, older than run 3, then run 3 and run 1.
	for _, id := range []string{r2.RunID, r3.RunID, r1.RunID} {
		res, err := UndoRun(ctx, tr.journal, id[:15], nil) // a prefix will do
		if err != nil || len(res.Problems) > 0 {
			t.Fatalf("undo %s: %+v %v", id, res, err)
		}
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatalf("not restored:\nbefore\n%s\nafter\n%s", before, after)
	}
	runs, _ = Runs(tr.journal)
	for _, r := range runs {
		if r.State != RunUndone {
			t.Errorf("run %s is %s, want undone", r.ID, r.State)
		}
	}
	if _, err := UndoRun(ctx, tr.journal, r2.RunID, nil); err == nil || !strings.Contains(err.Error(), "already undone") {
		t.Errorf("undo of an undone run: %v", err)
	}
	if _, err := Undo(tr.journal, nil); err != ErrNoRun {
		t.Errorf("undo with every run undone: %v, want ErrNoRun", err)
	}
	if _, err := UndoRun(ctx, tr.journal, "2026", nil); err == nil || !strings.Contains(err.Error(), "more than one run") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

// writeItemAt is the item for the file already at path.
func writeItemAt(t *testing.T, path string) Item {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	it := writeItem(t, path, string(b))
	os.Chtimes(path, st.ModTime(), st.ModTime())
	it.ModTime = st.ModTime().UnixNano()
	return it
}

// Purge removes only trashed files of runs old enough, whose content is
// the one deleted, and marks those runs purged.
func TestPurge(t *testing.T) {
	tr := newTree(t)
	ctx := context.Background()
	clock := fixedNow()
	now := func() time.Time { return clock }
	r1, err := Act(ctx, tr.groups[:1], &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: now}, nil)
	if err != nil || len(r1.Changed) != 2 {
		t.Fatal(r1, err)
	}
	clock = clock.Add(20 * 24 * time.Hour)
	r2, err := Act(ctx, tr.groups[1:], &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: now}, nil)
	if err != nil || len(r2.Changed) != 1 {
		t.Fatal(r2, err)
	}
	clock = clock.Add(15 * 24 * time.Hour)
	// Someone put other bytes under one of run 1's names.
	other := r1.Steps[1].Dest
	if err := os.WriteFile(other, []byte("not what was deleted"), 0o600); err != nil {
		t.Fatal(err)
	}
	dry, err := Purge(ctx, tr.journal, &PurgeOptions{OlderThan: 30 * 24 * time.Hour, Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || len(dry.Runs) != 1 || dry.Runs[0] != r1.RunID || dry.Files != 1 || len(dry.Problems) != 1 {
		t.Fatalf("dry run %+v", dry)
	}
	if _, err := os.Stat(r1.Steps[0].Dest); err != nil {
		t.Fatalf("a dry run removed: %v", err)
	}
	res, err := Purge(ctx, tr.journal, &PurgeOptions{OlderThan: 30 * 24 * time.Hour, Yes: true, Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Bytes != int64(len("keeper bytes")) || res.Freed <= 0 {
		t.Fatalf("purge %+v", res)
	}
	if _, err := os.Lstat(r1.Steps[0].Dest); !os.IsNotExist(err) {
		t.Errorf("purged file still there: %v", err)
	}
	if _, err := os.Lstat(r1.Steps[0].Info); !os.IsNotExist(err) {
		t.Errorf("its trashinfo still there: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "not what was deleted" {
		t.Errorf("a file that was not the one deleted was purged")
	}
	runs, _ := Runs(tr.journal)
	if runs[0].State != RunDone || runs[1].State != RunDone {
		t.Errorf("states %s %s: run 1 had a problem, run 2 is too young", runs[0].State, runs[1].State)
	}
	// Without the stranger and with no age limit, both runs go.
	os.Remove(other)
	res, err = Purge(ctx, tr.journal, &PurgeOptions{Yes: true, Now: now}, nil)
	if err != nil || len(res.Problems) > 0 || res.Files != 1 || len(res.Runs) != 2 {
		t.Fatalf("second purge %+v %v", res, err)
	}
	runs, _ = Runs(tr.journal)
	if runs[0].State != RunPurged || runs[1].State != RunPurged {
		t.Errorf("states %s %s, want purged", runs[0].State, runs[1].State)
	}
	if _, err := Undo(tr.journal, nil); err != ErrNoRun {
		t.Errorf("undo after purge: %v, want ErrNoRun", err)
	}
	// Named, a purged run says why its files cannot come back.
	ur, err := UndoRun(ctx, tr.journal, r2.RunID, nil)
	if err != nil || len(ur.Problems) != 1 || !strings.HasSuffix(ur.Problems[0], ": purged from the trash") {
		t.Errorf("undo of a purged run: %+v %v", ur, err)
	}
}

// A journal written before the trash of the file system (deleted files in
// <journal>/<run>.trash/) still undoes, lists and purges.
func TestJournal_OldDeleteRuns(t *testing.T) {
	for _, then := range []string{"undo", "purge"} {
		t.Run(then, func(t *testing.T) {
			tr := newTree(t)
			before := snapshot(t, tr.root)
			id := "20250101T000000.000000000Z"
			trash := filepath.Join(tr.journal, id+".trash")
			j, err := openJournal(tr.journal, id)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range tr.groups[0].Members {
				s := Step{Seq: i + 1, Op: Delete, Path: m.Path, Keeper: tr.groups[0].Keeper.Path, Base: trash,
					Dest: filepath.Join(trash, relToRoot(m.Path, nil)), Hash: m.Hash.String(), KeeperHash: tr.groups[0].Keeper.Hash.String()}
				j.write(record{State: "begin", Step: s})
				if err := moveFile(s.Path, s.Dest); err != nil {
					t.Fatal(err)
				}
				j.write(record{State: "done", Step: s})
			}
			j.Close()
			runs, err := Runs(tr.journal)
			if err != nil || len(runs) != 1 || runs[0].Files != 2 || runs[0].Bytes != int64(len("keeper bytes")+len("near bytes")) || runs[0].Action != "delete" {
				t.Fatalf("runs %+v %v", runs, err)
			}
			switch then {
			case "undo":
				res, err := Undo(tr.journal, nil)
				if err != nil || len(res.Restored) != 2 {
					t.Fatalf("undo %+v %v", res, err)
				}
				if after := snapshot(t, tr.root); after != before {
					t.Fatalf("not restored:\n%s\n%s", before, after)
				}
			case "purge":
				res, err := Purge(context.Background(), tr.journal, &PurgeOptions{Yes: true}, nil)
				if err != nil || res.Files != 2 || len(res.Problems) > 0 {
					t.Fatalf("purge %+v %v", res, err)
				}
				if _, err := os.Stat(trash); !os.IsNotExist(err) {
					t.Errorf("old trash folder left: %v", err)
				}
			}
		})
	}
}

// An interrupted trashing (the info file created but empty, the info
// file written, or the file linked into the trash but not yet unlinked)
// undoes cleanly.
func TestUndo_TrashInterrupted(t *testing.T) {
	tr := newTree(t)
	before := snapshot(t, tr.root)
	out, err := Act(context.Background(), tr.groups, &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true, Now: fixedNow}, nil)
	if err != nil || len(out.Changed) != 3 {
		t.Fatal(out, err)
	}
	// Step 1: as if killed after the link, before the unlink.
	s := out.Steps[0]
	if err := os.Link(s.Dest, s.Path); err != nil {
		t.Fatal(err)
	}
	// Step 2: as if killed after the info file, before the link.
	s = out.Steps[1]
	if err := os.Rename(s.Dest, s.Path); err != nil {
		t.Fatal(err)
	}
	// Step 3: as if killed between creating the info file and writing
	// it: an empty info file claims the name.
	s = out.Steps[2]
	if err := os.Rename(s.Dest, s.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.Info, 0); err != nil {
		t.Fatal(err)
	}
	res, err := Undo(tr.journal, nil)
	if err != nil || len(res.Problems) > 0 {
		t.Fatalf("undo %+v %v", res, err)
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatalf("not restored:\n%s\n%s", before, after)
	}
	for _, d := range []string{"files", "info"} {
		if left, _ := os.ReadDir(filepath.Join(tr.trash, d)); len(left) != 0 {
			t.Errorf("trash %s/ keeps %v", d, left)
		}
	}
}

// A file whose file system has no usable trash is skipped with the
// reason, never copied elsewhere.
func TestDelete_NoTrashSkips(t *testing.T) {
	tr := newTree(t)
	if err := os.MkdirAll(filepath.Dir(tr.trash), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.trash, []byte("a file where the trash should be"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tr.root)
	out, err := Act(context.Background(), tr.groups, &ActOptions{Action: Delete, JournalDir: tr.journal, HomeTrash: tr.trash, Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 0 || !strings.HasPrefix(out.Steps[0].Skip, "no trash on its file system: ") {
		t.Fatalf("steps %+v", out.Steps)
	}
	if after := snapshot(t, tr.root); after != before {
		t.Fatal("files changed")
	}
}

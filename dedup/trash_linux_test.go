package dedup

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a 16 MiB tmpfs, a file system of its own, for the
// test; it skips the test where that is not allowed (not root, or no
// mount in this container).
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the trash of a second file system is untested", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bfree) * st.Bsize
}

func randomContent(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// On a second file system a deleted copy goes to that file system's
// $topdir/.Trash-$uid, never to the home trash; an older run undoes after
// a newer one; purge frees on that file system what it says it frees.
func TestDelete_TrashOnItsOwnFileSystem(t *testing.T) {
	mnt := mountTmpfs(t)
	base := t.TempDir()
	home := filepath.Join(base, "share", "Trash")
	journal := filepath.Join(base, "db.journal")
	ctx := context.Background()
	keeper := writeItem(t, filepath.Join(mnt, "photos", "cat.jpg"), randomContent(t, 300_000))
	c1 := randomContent(t, 200_000)
	copy1 := writeItem(t, filepath.Join(mnt, "photos", "a", "cat.jpg"), c1)
	c2 := randomContent(t, 500_000)
	copy2 := writeItem(t, filepath.Join(mnt, "photos", "b", "cat.jpg"), c2)
	clock := fixedNow()
	now := func() time.Time { clock = clock.Add(time.Minute); return clock }
	del := func(m Item) Outcome {
		t.Helper()
		out, err := Act(ctx, []Group{{Keeper: keeper, Members: []Member{{Item: m, Score: 0.9, Reason: Near}}}},
			&ActOptions{Action: Delete, JournalDir: journal, HomeTrash: home, Yes: true, Now: now}, nil)
		if err != nil || len(out.Changed) != 1 {
			t.Fatalf("delete %s: %+v %v", m.Path, out.Steps, err)
		}
		return out
	}
	r1 := del(copy1)
	trash := filepath.Join(mnt, ".Trash-"+strconv.Itoa(os.Getuid()))
	checkTrashed(t, r1.Steps[0], trash, copy1.Path, "photos/a/cat.jpg", c1, clock, clock)
	if st, err := os.Lstat(trash); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want a 0700 folder", trash, st, err)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("the home trash was made for a file on another file system: %v", err)
	}
	r2 := del(copy2)
	checkTrashed(t, r2.Steps[0], trash, copy2.Path, "photos/b/cat.jpg", c2, clock, clock)

	// The older run undoes after the newer one.
	res, err := UndoRun(ctx, journal, r1.RunID, nil)
	if err != nil || len(res.Problems) > 0 || len(res.Restored) != 1 {
		t.Fatalf("undo run 1: %+v %v", res, err)
	}
	if b, err := os.ReadFile(copy1.Path); err != nil || string(b) != c1 {
		t.Fatalf("run 1's file not restored: %v", err)
	}
	if _, err := os.Lstat(r1.Steps[0].Info); !os.IsNotExist(err) {
		t.Errorf("its trashinfo is left: %v", err)
	}

	// Purge run 2: the tmpfs gets back what purge reports.
	free := freeBytes(t, mnt)
	pr, err := Purge(ctx, journal, &PurgeOptions{Yes: true}, nil)
	if err != nil || len(pr.Problems) > 0 || len(pr.Runs) != 1 || pr.Runs[0] != r2.RunID {
		t.Fatalf("purge %+v %v", pr, err)
	}
	if pr.Files != 1 || pr.Bytes != int64(len(c2)) {
		t.Errorf("purge removed %d files of %d bytes, want 1 of %d", pr.Files, pr.Bytes, len(c2))
	}
	gained := freeBytes(t, mnt) - free
	if gained != pr.Freed || pr.Freed < int64(len(c2)) {
		t.Errorf("purge says it freed %d bytes; the file system gained %d (the file was %d)", pr.Freed, gained, len(c2))
	}
	t.Logf("purged %d bytes, freed %d, statfs says %d", pr.Bytes, pr.Freed, gained)

	// An administrator's sticky $topdir/.Trash is used first, with a
	// folder per user.
	if err := os.Mkdir(filepath.Join(mnt, ".Trash"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(mnt, ".Trash"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	r3 := del(copy1)
	shared := filepath.Join(mnt, ".Trash", strconv.Itoa(os.Getuid()))
	checkTrashed(t, r3.Steps[0], shared, copy1.Path, "photos/a/cat.jpg", c1, clock, clock)
}

package simsearch

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// index --one-file-system end to end, on a tmpfs mounted below the root:
// its photo is left out (and pruned when an earlier run took it), and
// without the option it is indexed. Mounting needs root (CAP_SYS_ADMIN);
// elsewhere the test is skipped, and only the decision function is tested
// (TestWalk_OneFileSystem).
func TestEngine_IndexOneFileSystem(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs at %s (%v): needs root with CAP_SYS_ADMIN; --one-file-system is then tested only through its decision function", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	sample := filepath.Join("testdata", "photos")
	here := filepath.Join(dir, "a", "cat.jpg")
	there := filepath.Join(mnt, "fig.jpg")
	copyFile(t, filepath.Join(sample, "cat.jpg"), here)
	copyFile(t, filepath.Join(sample, "fig.jpg"), there)

	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	ctx := context.Background()
	has := func(p string) bool {
		t.Helper()
		_, ok, err := e.db.ItemByPath(p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	sum, err := e.Index(ctx, []string{dir}, &IndexOptions{OneFileSystem: true})
	if err != nil || sum.Added != 1 || !has(here) || has(there) {
		t.Fatalf("--one-file-system: %+v, %v; want the photo beside the mount point alone", sum, err)
	}
	sum, err = e.Index(ctx, []string{dir}, nil)
	if err != nil || sum.Added != 1 || sum.Unchanged != 1 || !has(there) {
		t.Fatalf("without it: %+v, %v; want the photo on the tmpfs added", sum, err)
	}
	sum, err = e.Index(ctx, []string{dir}, &IndexOptions{OneFileSystem: true})
	if err != nil || sum.Removed != 1 || has(there) || !has(here) {
		t.Fatalf("--one-file-system again: %+v, %v; want the photo on the tmpfs pruned", sum, err)
	}
	// The root itself may be a mount point: it is walked.
	sum, err = e.Index(ctx, []string{mnt}, &IndexOptions{OneFileSystem: true, NoPrune: true})
	if err != nil || sum.Added != 1 || !has(there) {
		t.Fatalf("the mount point as the root: %+v, %v; want its photo", sum, err)
	}
}

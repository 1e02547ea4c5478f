package simsearch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tree writes files (relative path -> size in bytes) under a new folder.
func tree(t *testing.T, files map[string]int) string {
	t.Helper()
	dir := t.TempDir()
	for rel, n := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// walked is the walk of dir with opts, as paths relative to dir.
func walked(t *testing.T, dir string, opts IndexOptions) []string {
	t.Helper()
	wo, err := opts.walkOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	files, failed, err := walk(context.Background(), []string{dir}, wo)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 {
		t.Fatalf("failed: %v", failed)
	}
	var rel []string
	for _, f := range files {
		r, err := filepath.Rel(dir, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, filepath.ToSlash(r))
	}
	return rel
}

func TestWalk_DefaultExcludes(t *testing.T) {
	dir := tree(t, map[string]int{
		"a.jpg":                                 10,
		"trip/b.jpg":                            10,
		"trip/@eaDir/b.jpg/SYNOPHOTO_THUMB.jpg": 10,
		"#recycle/old.jpg":                      10,
		"trip/#snapshot/b.jpg":                  10,
		"System Volume Information/x.jpg":       10,
		"$RECYCLE.BIN/y.jpg":                    10,
		"usb/.Trash-1000/files/z.jpg":           10,
	})
	got := walked(t, dir, IndexOptions{Hidden: true})
	if want := []string{"a.jpg", "trip/b.jpg"}; !slices.Equal(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
	got = walked(t, dir, IndexOptions{Hidden: true, NoDefaultExcludes: true})
	if len(got) != 8 {
		t.Errorf("without default excludes the walk took %d files, want all 8: %v", len(got), got)
	}
}

func TestWalk_Exclude(t *testing.T) {
	dir := tree(t, map[string]int{
		"a.jpg":              10,
		"a.png":              10,
		"raw/a.jpg":          10,
		"2020/raw/b.jpg":     10,
		"2020/edits/c.jpg":   10,
		"2020/edits/x/d.jpg": 10,
	})
	for _, c := range []struct {
		globs []string
		want  []string
	}{
		{[]string{"*.png"}, []string{"2020/edits/c.jpg", "2020/edits/x/d.jpg", "2020/raw/b.jpg", "a.jpg", "raw/a.jpg"}},
		{[]string{"raw"}, []string{"2020/edits/c.jpg", "2020/edits/x/d.jpg", "a.jpg", "a.png"}},
		{[]string{"/raw"}, []string{"2020/edits/c.jpg", "2020/edits/x/d.jpg", "2020/raw/b.jpg", "a.jpg", "a.png"}},
		{[]string{"2020/edits"}, []string{"2020/raw/b.jpg", "a.jpg", "a.png", "raw/a.jpg"}},
		{[]string{"**/d.jpg", "2020/*/b.jpg"}, []string{"2020/edits/c.jpg", "a.jpg", "a.png", "raw/a.jpg"}},
		{[]string{"**/raw/*.jpg"}, []string{"2020/edits/c.jpg", "2020/edits/x/d.jpg", "a.jpg", "a.png"}},
	} {
		got := walked(t, dir, IndexOptions{Exclude: c.globs})
		if !slices.Equal(got, c.want) {
			t.Errorf("--exclude %q: walk = %v, want %v", c.globs, got, c.want)
		}
	}
	if _, err := (&IndexOptions{Exclude: []string{"[a"}}).walkOptions(nil); err == nil {
		t.Error("a malformed glob was accepted")
	}
}

func TestWalk_MinSize(t *testing.T) {
	dir := tree(t, map[string]int{"small.jpg": 999, "edge.jpg": 1000, "big.jpg": 5000})
	got := walked(t, dir, IndexOptions{MinSize: 1000})
	if want := []string{"big.jpg", "edge.jpg"}; !slices.Equal(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
	if _, err := (&IndexOptions{MinSize: -1}).walkOptions(nil); err == nil {
		t.Error("a negative minimum size was accepted")
	}
}

func TestWalk_MissingListedFile(t *testing.T) {
	dir := tree(t, map[string]int{"a.jpg": 10, "@eaDir/t.jpg": 10, "@eaDir/b.jpg/t.jpg": 10})
	// find -name '*.jpg' lists @eaDir/b.jpg, a folder, too.
	roots := []string{filepath.Join(dir, "a.jpg"), filepath.Join(dir, "gone.jpg"), filepath.Join(dir, "@eaDir", "t.jpg"), filepath.Join(dir, "@eaDir", "b.jpg")}
	wo, err := (&IndexOptions{List: true}).walkOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := walk(context.Background(), roots, wo)
	if err != nil {
		t.Fatalf("a missing listed file stopped the walk: %v", err)
	}
	if len(files) != 1 || files[0].Path != roots[0] {
		t.Errorf("walk = %v, want only %s", files, roots[0])
	}
	wo.Missing = false
	if _, _, err := walk(context.Background(), roots, wo); err == nil {
		t.Error("a missing root passed without the list option")
	}
	// Named one by one, a root is taken as named.
	files, _, err = walk(context.Background(), roots[2:], wo)
	if err != nil || len(files) != 2 {
		t.Errorf("walk of named roots under @eaDir = %v, %v; want both files", files, err)
	}
}

func TestWalk_OneFileSystem(t *testing.T) {
	// /proc is its own file system on Linux: seen from /, it is a mount
	// point and /etc is not.
	root, err := os.Stat("/")
	if err != nil {
		t.Fatal(err)
	}
	dev, ok := deviceOf(root)
	if !ok {
		t.Skip("no st_dev on this platform")
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, d := range entries {
		switch d.Name() {
		case "proc":
			found++
			if !otherDevice(d, dev) {
				t.Error("/proc is not seen as another file system than /")
			}
		case "etc":
			found++
			if otherDevice(d, dev) {
				t.Skip("/etc is a mount point here")
			}
		}
	}
	if found != 2 {
		t.Skip("no /proc and /etc")
	}
}

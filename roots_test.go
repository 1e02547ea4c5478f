package simsearch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/store"
)

func TestParseRoot(t *testing.T) {
	for _, c := range []struct {
		spec, name, path, err string
	}{
		{spec: "photos=/mnt/nas/photos", name: "photos", path: "/mnt/nas/photos"},
		{spec: "raw-2=rel/dir", name: "raw-2", path: "rel/dir"},
		{spec: "a=b=c", name: "a", path: "b=c"},
		{spec: "bad", err: "want NAME=PATH"},
		{spec: "=x", err: "no name before '='"},
		{spec: "lib=", err: "no folder after '='"},
		{spec: "a/b=x", err: "root name a/b: use letters"},
		{spec: "my:lib=x", err: "root name my:lib: use letters"},
		{spec: "-lib=x", err: "starting with a letter or digit"},
	} {
		r, err := ParseRoot(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseRoot(%q) = %v, %v; want one line with %q", c.spec, r, err, c.err)
			}
			continue
		}
		if err != nil || r.Name != c.name || r.Path != c.path {
			t.Errorf("ParseRoot(%q) = %+v, %v; want %s=%s", c.spec, r, err, c.name, c.path)
		}
	}
	got, err := ParseRootList("a=/x" + string(filepath.ListSeparator) + string(filepath.ListSeparator) + "b=/y,z")
	if err != nil || !slices.Equal(got, []Root{{"a", "/x"}, {"b", "/y,z"}}) {
		t.Errorf("ParseRootList = %+v, %v", got, err)
	}
	if _, err := ParseRootList("a=/x" + string(filepath.ListSeparator) + "oops"); err == nil || !strings.Contains(err.Error(), "oops: want NAME=PATH") {
		t.Errorf("ParseRootList with a bad entry: %v", err)
	}
}

func TestCheckRoots(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "a/in", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	a, b, in := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "a", "in")
	for _, c := range []struct {
		roots []Root
		err   string
	}{
		{roots: []Root{{"x", a}, {"y", b}}},
		{roots: []Root{{"x", filepath.Join(dir, "nope")}}, err: "no such folder"},
		{roots: []Root{{"x", file}}, err: "not a folder"},
		{roots: []Root{{"x", a}, {"x", b}}, err: "x is already named " + a},
		{roots: []Root{{"x", a}, {"y", a + "/"}}, err: "the folder is already named x"},
		{roots: []Root{{"x", a}, {"y", in}}, err: "is inside the other"},
		{roots: []Root{{"y", in}, {"x", a}}, err: "is inside the other"},
	} {
		err := CheckRoots(c.roots)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("CheckRoots(%v) = %v; want %q", c.roots, err, c.err)
		}
	}
}

// TestRootMap_Paths: a path under a named root is stored by the name with
// '/' and comes back as this machine's path; outside every root, and
// under a root not named here, paths stay as they are.
func TestRootMap_Paths(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	os.MkdirAll(filepath.Join(lib, "2020"), 0o755)
	m, err := newRootMap([]Root{{"photos", lib}})
	if err != nil {
		t.Fatal(err)
	}
	for local, stored := range map[string]string{
		filepath.Join(lib, "2020", "a.jpg"): "photos:2020/a.jpg",
		lib:                                 "photos:",
		filepath.Join(dir, "lib2", "b.jpg"): filepath.Join(dir, "lib2", "b.jpg"), // a sibling with the same prefix
		"/elsewhere/c.jpg":                  "/elsewhere/c.jpg",
	} {
		if got := m.stored(local); got != stored {
			t.Errorf("stored(%s) = %s, want %s", local, got, stored)
		}
		if got, _, ok := m.local(stored); got != local || !ok {
			t.Errorf("local(%s) = %s, %v; want %s", stored, got, ok, local)
		}
		if IsStoredPath(local) {
			t.Errorf("IsStoredPath(%s) is true of a local path", local)
		}
	}
	if p, name, ok := m.local("raw:x/y.jpg"); ok || p != "raw:x/y.jpg" || name != "raw" || !IsStoredPath(p) {
		t.Errorf("local of an unnamed root = %s, %s, %v", p, name, ok)
	}
	for _, p := range []string{"rel/a.jpg", "a.jpg", "/abs/raw:x", ":x", "a/b:c"} {
		if IsStoredPath(p) {
			t.Errorf("IsStoredPath(%s) is true", p)
		}
	}
	if got := m.claimRoots([]string{dir, filepath.Join(lib, "2020")}); !slices.Equal(got, []string{dir, "photos:", "photos:2020"}) {
		t.Errorf("claimRoots = %q", got)
	}
}

// openRooted opens an engine on db with roots, its notices in log.
func openRooted(t *testing.T, db string, log *bytes.Buffer, roots ...Root) *Engine {
	t.Helper()
	rt := openRuntime(t)
	randomModel(t, rt)
	e, err := Open(context.Background(), &Options{DB: db, Roots: roots, Log: log,
		ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rawPaths are the paths the database at db holds, as stored.
func rawPaths(t *testing.T, db string) []string {
	t.Helper()
	s, err := store.Open(db, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	if err := s.ForEachItem(func(it store.Item) error { out = append(out, it.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestEngine_RootMovedLibrary: a library indexed under a named root and
// then moved keeps its items when the root is named at its new place:
// nothing is embedded again or removed, and queries and dedup give the
// new paths. A library indexed before its root had a name is stored by
// the name on the next run, without embedding.
func TestEngine_RootMovedLibrary(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	photos := photoSet(t, 3, 1)
	dir1, dir2 := filepath.Join(base, "disk1", "lib"), filepath.Join(base, "disk2", "lib")
	os.MkdirAll(filepath.Dir(dir1), 0o755)
	os.MkdirAll(filepath.Dir(dir2), 0o755)
	if err := os.Rename(photos, dir1); err != nil {
		t.Fatal(err)
	}
	// An exact copy, for dedup.
	names, _ := filepath.Glob(filepath.Join(dir1, "*"))
	first := filepath.Base(names[0])
	b, _ := os.ReadFile(names[0])
	os.WriteFile(filepath.Join(dir1, "copy-"+first), b, 0o644)
	n := len(names) + 1

	db := filepath.Join(base, "s.db")
	var log bytes.Buffer
	// Indexed first without a name: absolute paths, as before roots.
	e := openRooted(t, db, &log)
	if sum, err := e.Index(ctx, []string{dir1}, nil); err != nil || sum.Added != n {
		t.Fatalf("index without a root: %+v, %v", sum, err)
	}
	e.Close()
	e = openRooted(t, db, &log, Root{"lib", dir1})
	sum, err := e.Index(ctx, []string{dir1}, nil)
	if err != nil || sum.Added+sum.Updated+sum.Removed != 0 || sum.Unchanged != n {
		t.Fatalf("index with the root named: %+v, %v", sum, err)
	}
	// A decision names its files by the root too.
	if _, err := e.Ignore(names[1:3]); err != nil {
		t.Fatal(err)
	}
	e.Close()
	want := []string{"lib:" + first}
	for _, p := range rawPaths(t, db) {
		if !strings.HasPrefix(p, "lib:") {
			t.Errorf("%s is not stored by its root's name", p)
		}
	}
	if got := rawPaths(t, db); len(got) != n || !slices.Contains(got, want[0]) {
		t.Fatalf("stored %q", got)
	}

	if err := os.Rename(dir1, dir2); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	e = openRooted(t, db, &log, Root{"lib", dir2})
	sum, err = e.Index(ctx, []string{dir2}, nil)
	if err != nil || sum.Added+sum.Updated+sum.Removed != 0 || sum.Unchanged != n {
		t.Fatalf("index after the move: %+v, %v", sum, err)
	}
	ms, err := e.Query(ctx, filepath.Join(dir2, first), &QueryOptions{K: n})
	if err != nil || len(ms) != n-1 {
		t.Fatalf("query after the move: %d matches, %v", len(ms), err)
	}
	for _, m := range ms {
		if !under(m.Path, dir2) {
			t.Errorf("match %s is not under %s", m.Path, dir2)
		}
		if _, err := os.Stat(m.Path); err != nil {
			t.Errorf("match: %v", err)
		}
	}
	groups, err := e.Duplicates(ctx, nil, &DedupOptions{ExactOnly: true})
	if err != nil || len(groups) != 1 || len(groups[0].Members) != 1 {
		t.Fatalf("dedup after the move: %+v, %v", groups, err)
	}
	for _, p := range []string{groups[0].Keeper.Path, groups[0].Members[0].Path} {
		if !under(p, dir2) {
			t.Errorf("dedup path %s is not under %s", p, dir2)
		}
	}
	ds, err := e.Decisions()
	if err != nil || len(ds) != 1 || len(ds[0].Files) != 2 {
		t.Fatalf("decisions after the move: %+v, %v", ds, err)
	}
	for _, f := range ds[0].Files {
		if !under(f.Named, dir2) || len(f.Paths) != 1 || !under(f.Paths[0], dir2) {
			t.Errorf("decision file after the move: %+v", f)
		}
	}
	if strings.Contains(log.String(), "not named") {
		t.Errorf("a note about an unnamed root with the root named: %s", log.String())
	}
}

// TestEngine_RootNotNamedHere: on a machine where a root has no name,
// its items are kept by an index run of another folder, shown as stored
// with one note, and left out of dedup and its actions.
func TestEngine_RootNotNamedHere(t *testing.T) {
	ctx := context.Background()
	lib := photoSet(t, 3, 1)
	names, _ := filepath.Glob(filepath.Join(lib, "*"))
	db := filepath.Join(t.TempDir(), "s.db")
	var log bytes.Buffer
	e := openRooted(t, db, &log, Root{"lib", lib})
	if sum, err := e.Index(ctx, []string{lib}, nil); err != nil || sum.Added != len(names) {
		t.Fatalf("index the lib: %+v, %v", sum, err)
	}
	e.Close()

	// Another folder, with an exact copy of a lib photo, indexed without
	// the root's name.
	other := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(other, 0o755)
	b, _ := os.ReadFile(names[0])
	copyPath := filepath.Join(other, "copy.jpg")
	os.WriteFile(copyPath, b, 0o644)
	log.Reset()
	e = openRooted(t, db, &log)
	sum, err := e.Index(ctx, []string{other}, nil)
	if err != nil || sum.Added != 1 || sum.Removed != 0 {
		t.Fatalf("index of another folder: %+v, %v", sum, err)
	}
	if n, err := e.Len(); err != nil || n != len(names)+1 {
		t.Fatalf("%d items after indexing another folder, want %d (%v)", n, len(names)+1, err)
	}
	// index / with everything: still nothing of lib: is pruned.
	if sum, err := e.Index(ctx, []string{other}, &IndexOptions{List: true}); err != nil || sum.Removed != 0 {
		t.Fatalf("index of a list: %+v, %v", sum, err)
	}
	ms, err := e.Query(ctx, copyPath, &QueryOptions{K: 10})
	if err != nil || len(ms) != len(names) {
		t.Fatalf("query: %d matches, %v", len(ms), err)
	}
	if ms[0].Path != "lib:"+filepath.Base(names[0]) || ms[0].Score < 0.999 {
		t.Errorf("best match %s %.3f, want the stored form of the copied photo", ms[0].Path, ms[0].Score)
	}
	for _, m := range ms {
		if !IsStoredPath(m.Path) {
			t.Errorf("match %s: not in the stored form", m.Path)
		}
	}
	if c := strings.Count(log.String(), "root lib is not named on this machine"); c != 1 || !strings.Contains(log.String(), "--root lib=FOLDER") {
		t.Errorf("the note was given %d times (want once, naming --root lib=FOLDER):\n%s", c, log.String())
	}

	// dedup: the copy's original is not seen here, so nothing is grouped
	// and an action on every group touches nothing of the lib.
	res, err := e.FindDuplicates(ctx, nil, &DedupOptions{ExactOnly: true})
	if err != nil || len(res.Groups) != 0 {
		t.Fatalf("dedup: %+v, %v", res.Groups, err)
	}
	// A group from elsewhere that names a stored path is refused whole.
	it, _, _ := e.Item(ms[0].ID)
	cp, _, err := e.db.ItemByPath(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	g := dedup.Group{Keeper: cp, Members: []dedup.Member{{Item: it, Score: 1}}}
	_, err = e.ActOnDuplicates(ctx, []dedup.Group{g}, dedup.ActOptions{Action: dedup.Delete, Yes: true}, &log)
	if err == nil {
		t.Errorf("an action on a group naming %s went ahead", it.Path)
	}
	for _, p := range names {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("lib photo gone: %v", err)
		}
	}
	if n, err := e.Len(); err != nil || n != len(names)+1 {
		t.Fatalf("%d items after dedup, want %d (%v)", n, len(names)+1, err)
	}
	if _, err := DecodeThumbnail(it.Path); err == nil {
		t.Errorf("a thumbnail of %s was decoded", it.Path)
	}
}

// TestWalkTakes: a claimed file is taken as the walk would take it:
// excludes on any folder of its path or on its name, hidden folders and
// files, the size floor, the run's own files, roots, and never a file
// under a root not named here.
func TestWalkTakes(t *testing.T) {
	x, err := newExcluder([]string{"raw", "keep/*.png"})
	if err != nil {
		t.Fatal(err)
	}
	wo := walkOptions{Exclude: x, MinSize: 10, Skip: map[string]bool{"/r/db": true}}
	for path, want := range map[string]bool{
		"/r/a.jpg":         true,
		"/r/raw/a.jpg":     false, // a folder excluded by name
		"/r/x/raw":         false,
		"/r/keep/a.png":    false, // a glob with a slash
		"/r/keep/a.jpg":    true,
		"/r/.cache/a.jpg":  false,
		"/r/sub/.a.jpg":    false,
		"/r/db/x.jpg":      false, // below the database
		"/other/a.jpg":     false, // under no root of the run
		"lib:a.jpg":        false,
		"/r/rawhide/a.jpg": true,
	} {
		if got := walkTakes(path, 100, []string{"/r"}, wo); got != want {
			t.Errorf("walkTakes(%s) = %v, want %v", path, got, want)
		}
	}
	if walkTakes("/r/a.jpg", 9, []string{"/r"}, wo) {
		t.Error("a file below the size floor was taken")
	}
	wo.Hidden = true
	if !walkTakes("/r/.cache/a.jpg", 100, []string{"/r"}, wo) {
		t.Error("a hidden file was refused with Hidden")
	}
}

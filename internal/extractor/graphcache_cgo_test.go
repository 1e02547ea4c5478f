//go:build cgo

package extractor

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch/model"
)

var testEnv = cacheEnv{version: "1.24.3", cpu: "amd64/Test CPU [avx2 avx512f]"}

// cachedTiny is tinyVGG with the hash a cache key needs.
func cachedTiny(t *testing.T) model.Spec {
	t.Helper()
	spec, _ := tinyVGG(t)
	spec.SHA256 = "0f00"
	return spec
}

// openCached opens a session on spec with its graph cached in dir.
func openCached(t *testing.T, rt *Runtime, spec model.Spec, dir string, env cacheEnv, log *bytes.Buffer) (s *Session, path string, loaded bool) {
	t.Helper()
	return openCachedThreads(t, rt, spec, dir, env, log, 1)
}

func openCachedThreads(t *testing.T, rt *Runtime, spec model.Spec, dir string, env cacheEnv, log *bytes.Buffer, threads int) (s *Session, path string, loaded bool) {
	t.Helper()
	o := SessionOptions{Threads: threads, CacheDir: dir}
	if log != nil {
		o.Log = log
	}
	s, err := rt.newSession(spec, o, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	path, loaded = s.GraphCache()
	return s, path, loaded
}

func testInput(spec model.Spec) []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	in := make([]float32, 2*3*spec.Pre.Size*spec.Pre.Size)
	for i := range in {
		in[i] = r.Float32()*4 - 2
	}
	return in
}

// dirFiles lists the names in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestGraphCache_SecondSessionLoadsIt(t *testing.T) {
	rt := openTestRuntime(t)
	spec := cachedTiny(t)
	dir := filepath.Join(t.TempDir(), "cache")
	first, path, loaded := openCached(t, rt, spec, dir, testEnv, nil)
	if path == "" || loaded {
		t.Fatalf("first session: cache %q loaded %v, want a new cache file", path, loaded)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("first session left no cache file: %v", err)
	}
	if got := dirFiles(t, dir); !slices.Equal(got, []string{filepath.Base(path)}) {
		t.Fatalf("cache dir holds %v, want only %s (no temporary files)", got, filepath.Base(path))
	}
	second, path2, loaded := openCached(t, rt, spec, dir, testEnv, nil)
	if path2 != path || !loaded {
		t.Fatalf("second session: cache %q loaded %v, want %q loaded", path2, loaded, path)
	}
	in := testInput(spec)
	a, err := first.Run(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := second.Run(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Fatal("the session loaded from the cache gives other features than the one that optimised the model")
	}
}

func TestGraphCache_CorruptFileIsReplaced(t *testing.T) {
	rt := openTestRuntime(t)
	spec := cachedTiny(t)
	dir := t.TempDir()
	_, path, _ := openCached(t, rt, spec, dir, testEnv, nil)
	if err := os.WriteFile(path, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s, path2, loaded := openCached(t, rt, spec, dir, testEnv, &log)
	if path2 != path || loaded {
		t.Fatalf("after corruption: cache %q loaded %v, want %q rebuilt", path2, loaded, path)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), "ignoring the cached graph") {
		t.Fatalf("note about the corrupt cache = %q, want one line", log.String())
	}
	if _, err := s.Run(testInput(spec), 2); err != nil {
		t.Fatal(err)
	}
	if _, _, loaded := openCached(t, rt, spec, dir, testEnv, nil); !loaded {
		t.Fatal("the replaced cache file is not loaded by the next session")
	}
}

func TestGraphCache_KeyDependsOnModelRuntimeCPUAndThreads(t *testing.T) {
	rt := openTestRuntime(t)
	spec := cachedTiny(t)
	dir := t.TempDir()
	_, base, _ := openCached(t, rt, spec, dir, testEnv, nil)
	other := spec
	other.SHA256 = "0f01"
	for _, c := range []struct {
		name    string
		spec    model.Spec
		env     cacheEnv
		threads int
	}{
		{"runtime version", spec, cacheEnv{version: "1.25.0", cpu: testEnv.cpu}, 1},
		{"cpu", spec, cacheEnv{version: testEnv.version, cpu: "amd64/Test CPU [avx2]"}, 1},
		{"model hash", other, testEnv, 1},
		{"thread count", spec, testEnv, 2},
	} {
		_, path, loaded := openCachedThreads(t, rt, c.spec, dir, c.env, nil, c.threads)
		if path == "" || path == base || loaded {
			t.Errorf("another %s: cache %q loaded %v, want a file other than %q, not loaded", c.name, path, loaded, base)
		}
	}
}

func TestGraphCache_NoCacheWhenItCannotBeKeyedOrWritten(t *testing.T) {
	rt := openTestRuntime(t)
	spec := cachedTiny(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noHash := spec
	noHash.SHA256 = ""
	for _, c := range []struct {
		name string
		spec model.Spec
		dir  string
		env  cacheEnv
	}{
		{"unwritable directory", spec, filepath.Join(blocker, "cache"), testEnv},
		{"no model hash", noHash, t.TempDir(), testEnv},
		{"unknown cpu", spec, t.TempDir(), cacheEnv{version: testEnv.version}},
	} {
		s, path, loaded := openCached(t, rt, c.spec, c.dir, c.env, nil)
		if path != "" || loaded {
			t.Errorf("%s: cache %q loaded %v, want none", c.name, path, loaded)
		}
		if _, err := s.Run(testInput(spec), 2); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestGraphCache_RebuiltModelDropsItsOldFile(t *testing.T) {
	rt := openTestRuntime(t)
	spec := cachedTiny(t)
	dir := t.TempDir()
	_, old, _ := openCached(t, rt, spec, dir, testEnv, nil)
	_, otherThreads, _ := openCachedThreads(t, rt, spec, dir, testEnv, nil, 2)
	longer := spec
	longer.Name = spec.Name + "-int8"
	_, otherModel, _ := openCached(t, rt, longer, dir, testEnv, nil)
	// A killed process's temporary file: removed once old, kept while
	// another process may still be writing it.
	killed, writing := old+".tmp-1", old+".tmp-2"
	for _, p := range []string{killed, writing} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(killed, long, long); err != nil {
		t.Fatal(err)
	}
	rebuilt := spec
	rebuilt.SHA256 = "0f01"
	_, now, _ := openCached(t, rt, rebuilt, dir, testEnv, nil)
	want := []string{filepath.Base(otherModel), filepath.Base(now), filepath.Base(writing)}
	slices.Sort(want)
	if got := dirFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after a rebuild the cache holds %v, want %v (%s, %s and %s gone)", got, want, filepath.Base(old), filepath.Base(otherThreads), filepath.Base(killed))
	}
}

package simsearch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/index/indextest"
	"github.com/simsearch/simsearch/internal/store"
)

// A read-write open writes the index file beside the database and a
// read-only one maps it (on Linux). Queries give the same matches when
// the file is used, missing, damaged or truncated (each of the last two
// said in one log line, the snapshot in the database then read), and a
// stale file is ignored: the index catches up with the stored vectors.
// No model is needed: the database names its own.
func TestEngine_IndexFile(t *testing.T) {
	const dims = 16
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	vecs := indextest.Clustered(330, dims, 41)
	s, err := store.Open(db, &store.Options{Fingerprint: "fp", ModelName: "vgg16-random/rmac", Dims: dims})
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	for i, v := range vecs[:300] {
		recs = append(recs, store.Record{Item: Item{Path: fmt.Sprintf("/p/%03d.jpg", i), Size: int64(100 + i), ModTime: int64(i), Width: 4, Height: 3, Format: "jpeg"}, Vector: v})
	}
	if _, err := s.Put(recs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	noModel := &ModelOptions{Dir: t.TempDir(), Name: "vgg16-random"}
	open := func(readOnly bool) (*Engine, string) {
		t.Helper()
		var log bytes.Buffer
		e, err := Open(ctx, &Options{DB: db, ReadOnly: readOnly, ModelOptions: noModel, Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e, log.String()
	}
	matches := func(e *Engine) []string {
		t.Helper()
		var out []string
		for _, q := range vecs[300:] {
			ms, err := e.QueryVector(q, 0, &QueryOptions{K: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				out = append(out, fmt.Sprintf("%s %.5f", m.Path, m.Score))
			}
		}
		return out
	}
	file := db + ".hnsw"

	e, _ := open(false) // builds the index and saves it both ways
	e.Close()
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no index file after a read-write open: %v", err)
	}
	e, log := open(true)
	want := matches(e)
	if log != "" {
		t.Errorf("log of a read-only open: %q", log)
	}
	if runtime.GOOS == "linux" && !mapsLive(t, file) {
		t.Error("the index file is not mapped after a read-only open")
	}
	e.Close()

	cases := []struct {
		name string
		file []byte // nil: none
		log  string // "": no line
	}{
		{"flipped byte", flip(good, len(good)/2), "checksum"},
		{"truncated", good[:len(good)-100], "file is"},
		{"missing", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(file)
			if c.file != nil {
				replaceFile(t, file, c.file)
			}
			e, log := open(true)
			if got := matches(e); !slices.Equal(got, want) {
				t.Errorf("matches %q, want %q", got, want)
			}
			lines := strings.Count(log, "\n")
			switch {
			case c.log == "" && log != "":
				t.Errorf("log %q, want none", log)
			case c.log != "" && (lines != 1 || !strings.Contains(log, c.log) || !strings.Contains(log, "reading the index snapshot in the database")):
				t.Errorf("log %q, want one line saying %q", log, c.log)
			}
		})
	}

	// Stale: a photo added since the file was written is found.
	replaceFile(t, file, good)
	s, err = store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put([]store.Record{{Item: Item{Path: "/p/new.jpg", Size: 1, Width: 4, Height: 3, Format: "jpeg"}, Vector: vecs[310]}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e, log = open(true)
	if ms, err := e.QueryVector(vecs[310], 0, &QueryOptions{K: 1}); err != nil || len(ms) != 1 || ms[0].Path != "/p/new.jpg" {
		t.Errorf("query for the new photo's vector with a stale index file: %+v, %v", ms, err)
	}
	if log != "" {
		t.Errorf("log with a stale index file: %q, want none (it is ignored)", log)
	}
	e.Close()
	// A read-write open catches up, saves, and the file is current again.
	e, _ = open(false)
	e.Close()
	e, log = open(true)
	if ms, err := e.QueryVector(vecs[310], 0, &QueryOptions{K: 1}); err != nil || len(ms) != 1 || ms[0].Path != "/p/new.jpg" || log != "" {
		t.Errorf("after a read-write open: %+v, %v, log %q", ms, err, log)
	}
	if runtime.GOOS == "linux" && !mapsLive(t, file) {
		t.Error("the rewritten index file is not mapped")
	}
}

// replaceFile puts b at path by renaming a new file over it, as the store
// does: earlier engines of the test may still map the old one.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".test"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// mapsLive reports whether this process maps path (not a deleted file
// that was at path).
func mapsLive(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, " "+path) {
			return true
		}
	}
	return false
}

func flip(b []byte, at int) []byte {
	c := slices.Clone(b)
	c[at] ^= 0x40
	return c
}

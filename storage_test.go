package simsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/simsearch/simsearch/internal/store"
)

// backendDBs name, for each storage implementation, a fresh and empty
// database for a test: a bbolt file, a PostgreSQL database on the test
// server (skipped, saying why, without one: see testPostgres).
var backendDBs = []struct {
	name string
	db   func(t *testing.T) string
}{
	{"bbolt", func(t *testing.T) string { return filepath.Join(t.TempDir(), "c.db") }},
	{"postgres", testPostgres},
}

// backends are the storage implementations the conformance suite runs
// against: each opens a fresh, empty database for a test.
var backends = func() map[string]func(t *testing.T, o storageOptions) storage {
	m := map[string]func(t *testing.T, o storageOptions) storage{}
	for _, b := range backendDBs {
		m[b.name] = func(t *testing.T, o storageOptions) storage {
			t.Helper()
			s, err := openStore(b.db(t), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	return m
}()

func testRecord(path string, dims int, seed float32) store.Record {
	v := make([]float32, dims)
	v[int(seed)%dims] = 1 // unit length
	return store.Record{Item: Item{Path: path, Size: int64(100 * seed), ModTime: int64(seed), Width: 4, Height: 3, Format: "jpeg"}, Vector: v}
}

// TestStorage_Conformance is what the engine relies on from a backend.
func TestStorage_Conformance(t *testing.T) {
	const dims = 4
	opts := storageOptions{Fingerprint: "fp-1", ModelName: "m/rmac", Dims: dims}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Run("PutReadBack", func(t *testing.T) {
				s := open(t, opts)
				ids, err := s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1), testRecord("/p/b.jpg", dims, 2)})
				if err != nil || len(ids) != 2 || ids[0] == ids[1] || ids[0] == 0 {
					t.Fatalf("Put = %v, %v; want two distinct non-zero ids", ids, err)
				}
				it, ok, err := s.Item(ids[1])
				if err != nil || !ok || it.Path != "/p/b.jpg" || it.ID != ids[1] || it.Size != 200 || it.Width != 4 {
					t.Fatalf("Item(%d) = %+v, %t, %v", ids[1], it, ok, err)
				}
				byPath, ok, err := s.ItemByPath("/p/a.jpg")
				if err != nil || !ok || byPath.ID != ids[0] {
					t.Fatalf("ItemByPath = %+v, %t, %v", byPath, ok, err)
				}
				if _, ok, err := s.ItemByPath("/p/none.jpg"); ok || err != nil {
					t.Fatalf("ItemByPath of an unknown path = %t, %v", ok, err)
				}
				v, err := s.Vector(ids[0])
				if err != nil || !slices.Equal(v, testRecord("", dims, 1).Vector) {
					t.Fatalf("Vector = %v, %v", v, err)
				}
				v[0] = 42 // must not reach the stored copy
				if again, _ := s.Vector(ids[0]); again[0] == 42 {
					t.Fatal("Vector returned memory the store still uses")
				}
				var paths []string
				if err := s.ForEachItem(func(it Item) error { paths = append(paths, it.Path); return nil }); err != nil {
					t.Fatal(err)
				}
				var vids []uint64
				if err := s.ForEachVector(func(id uint64, v []float32) error { vids = append(vids, id); return nil }); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(paths, []string{"/p/a.jpg", "/p/b.jpg"}) || !slices.Equal(vids, ids) {
					t.Fatalf("ForEachItem paths %q, ForEachVector ids %v; want both in id order", paths, vids)
				}
				if n, err := s.Len(); n != 2 || err != nil {
					t.Fatalf("Len = %d, %v", n, err)
				}
				m, err := s.Meta()
				if err != nil || m.Dims != dims || m.Fingerprint != "fp-1" || m.ModelName != "m/rmac" || m.ItemsVersion == 0 {
					t.Fatalf("Meta = %+v, %v", m, err)
				}
			})
			t.Run("ItemsAfter", func(t *testing.T) {
				s := open(t, opts)
				var recs []store.Record
				for i := range 7 {
					recs = append(recs, testRecord(fmt.Sprintf("/p/%d.jpg", i), dims, float32(i+1)))
				}
				ids, err := s.Put(recs)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Delete([]uint64{ids[3]}); err != nil { // a gap the seek must step over
					t.Fatal(err)
				}
				pageIDs := func(after uint64, limit int) []uint64 {
					t.Helper()
					page, err := s.ItemsAfter(after, limit)
					if err != nil {
						t.Fatalf("ItemsAfter(%d, %d): %v", after, limit, err)
					}
					var got []uint64
					for _, it := range page {
						if it.Path == "" {
							t.Fatalf("ItemsAfter(%d, %d): item %d without its path", after, limit, it.ID)
						}
						got = append(got, it.ID)
					}
					return got
				}
				live := slices.Delete(slices.Clone(ids), 3, 4)
				if got := pageIDs(0, 3); !slices.Equal(got, live[:3]) {
					t.Errorf("first page %v, want %v", got, live[:3])
				}
				if got := pageIDs(ids[2], 10); !slices.Equal(got, live[3:]) {
					t.Errorf("page after %d (the gap next) %v, want %v", ids[2], got, live[3:])
				}
				if got := pageIDs(ids[6], 10); len(got) != 0 {
					t.Errorf("page after the last id: %v, want none", got)
				}
				if got := pageIDs(0, 0); len(got) != 0 {
					t.Errorf("a page of 0: %v, want none", got)
				}
			})
			t.Run("ReplaceKeepsID", func(t *testing.T) {
				s := open(t, opts)
				ids, _ := s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1)})
				m1, _ := s.Meta()
				again, err := s.Put([]store.Record{testRecord("/p/a.jpg", dims, 3)})
				if err != nil || again[0] != ids[0] {
					t.Fatalf("Put of a stored path = %v, %v; want its id %d", again, err, ids[0])
				}
				it, _, _ := s.Item(ids[0])
				v, _ := s.Vector(ids[0])
				m2, _ := s.Meta()
				if it.Size != 300 || v[3] != 1 || m2.ItemsVersion <= m1.ItemsVersion {
					t.Fatalf("after replace: item %+v, vector %v, version %d→%d", it, v, m1.ItemsVersion, m2.ItemsVersion)
				}
				if n, _ := s.Len(); n != 1 {
					t.Fatalf("Len = %d after replacing, want 1", n)
				}
			})
			t.Run("Labels", func(t *testing.T) {
				s := open(t, opts)
				r := testRecord("/p/a.jpg", dims, 1)
				r.Item.Labels = []LabelSet{
					{Source: "imagenet", Top: []Label{{ID: "n02129604", Name: "tiger", Prob: 0.75}, {ID: "n02123159", Name: "tiger cat", Prob: 0.125}}},
					{Source: HeadSource, Top: []Label{{ID: "cats", Name: "cats", Prob: 1}}},
				}
				ids, err := s.Put([]store.Record{r, testRecord("/p/b.jpg", dims, 2)})
				if err != nil {
					t.Fatal(err)
				}
				it, _, _ := s.Item(ids[0])
				byPath, _, _ := s.ItemByPath("/p/a.jpg")
				var each []Item
				s.ForEachItem(func(it Item) error { each = append(each, it); return nil })
				for _, got := range [][]LabelSet{it.Labels, byPath.Labels, each[0].Labels} {
					if !reflect.DeepEqual(got, r.Item.Labels) {
						t.Fatalf("labels read back %+v, want %+v", got, r.Item.Labels)
					}
				}
				if len(each) != 2 || each[1].Labels != nil {
					t.Fatalf("an item stored without labels reads %+v", each)
				}
				// What reads them must not change the stored copy.
				it.Labels[0].Top[0].ID = "changed"
				if again, _, _ := s.Item(ids[0]); again.Labels[0].Top[0].ID != "n02129604" {
					t.Fatal("Item returned label memory the store still uses")
				}
				// SetLabels replaces one source's set and adds a new one.
				m1, _ := s.Meta()
				head := LabelSet{Source: HeadSource, Top: []Label{{ID: "dogs", Name: "dogs", Prob: 0.5}}}
				if n, err := s.SetLabels(map[uint64]LabelSet{ids[0]: head, ids[1]: head, 12345: head}); n != 2 || err != nil {
					t.Fatalf("SetLabels = %d, %v; want 2", n, err)
				}
				a, _, _ := s.Item(ids[0])
				b, _, _ := s.Item(ids[1])
				if want := []LabelSet{r.Item.Labels[0], head}; !reflect.DeepEqual(a.Labels, want) || !reflect.DeepEqual(b.Labels, []LabelSet{head}) {
					t.Fatalf("after SetLabels: %+v and %+v", a.Labels, b.Labels)
				}
				if m2, _ := s.Meta(); m2.ItemsVersion != m1.ItemsVersion {
					t.Fatalf("SetLabels moved the items version %d → %d (the index snapshot stays current)", m1.ItemsVersion, m2.ItemsVersion)
				}
				// Embedded again without a classifier: the labels go.
				if _, err := s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1)}); err != nil {
					t.Fatal(err)
				}
				if again, _, _ := s.Item(ids[0]); again.Labels != nil {
					t.Fatalf("replaced item kept its old labels %+v", again.Labels)
				}
				if problems, err := s.Check(checkOptions()); len(problems) > 0 || err != nil {
					t.Fatalf("Check with labels = %q, %v", problems, err)
				}
			})
			t.Run("Delete", func(t *testing.T) {
				s := open(t, opts)
				ids, _ := s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1), testRecord("/p/b.jpg", dims, 2)})
				if err := s.Delete(ids[:1]); err != nil {
					t.Fatal(err)
				}
				if _, ok, _ := s.Item(ids[0]); ok {
					t.Error("deleted item still there")
				}
				if _, ok, _ := s.ItemByPath("/p/a.jpg"); ok {
					t.Error("deleted path still found")
				}
				if _, err := s.Vector(ids[0]); err == nil {
					t.Error("deleted vector still readable")
				}
				if n, _ := s.Len(); n != 1 {
					t.Errorf("Len = %d, want 1", n)
				}
			})
			t.Run("WrongDims", func(t *testing.T) {
				s := open(t, opts)
				r := testRecord("/p/a.jpg", dims+1, 1)
				if _, err := s.Put([]store.Record{r}); err == nil {
					t.Fatal("Put of a vector with other dimensions succeeded")
				}
				if n, _ := s.Len(); n != 0 {
					t.Fatalf("a failed Put stored %d items", n)
				}
			})
			t.Run("Failures", func(t *testing.T) {
				s := open(t, opts)
				if err := s.PutFailures(map[string]string{"/p/x.jpg": "corrupt image", "/p/y.jpg": "empty file"}); err != nil {
					t.Fatal(err)
				}
				if err := s.ClearFailures([]string{"/p/x.jpg"}); err != nil {
					t.Fatal(err)
				}
				f, err := s.Failures()
				if err != nil || len(f) != 1 || f[0].Path != "/p/y.jpg" || f[0].Reason != "empty file" {
					t.Fatalf("Failures = %+v, %v", f, err)
				}
			})
			t.Run("Decisions", func(t *testing.T) {
				s := open(t, opts)
				if ds, err := s.Decisions(); err != nil || len(ds) != 0 {
					t.Fatalf("Decisions of a new database = %+v, %v", ds, err)
				}
				files := []store.DecisionFile{{Hash: Hash{2}, Path: "/p/b.jpg"}, {Hash: Hash{1}, Path: "/p/a.jpg"}, {Hash: Hash{1}, Path: "/p/a2.jpg"}}
				id1, err := s.AddDecision(store.Decision{Kind: store.NotDuplicates, Files: files})
				if err != nil || id1 == 0 {
					t.Fatalf("AddDecision = %d, %v", id1, err)
				}
				files[0].Path = "/p/changed.jpg" // must not reach the stored copy
				id2, err := s.AddDecision(store.Decision{Kind: store.KeepAll, Files: files[:2]})
				if err != nil || id2 <= id1 {
					t.Fatalf("second AddDecision = %d, %v; want an id above %d", id2, err, id1)
				}
				if _, err := s.AddDecision(store.Decision{Kind: store.KeepAll, Files: files[:1]}); err == nil {
					t.Error("a decision of one file was recorded")
				}
				ds, err := s.Decisions()
				if err != nil || len(ds) != 2 || ds[0].ID != id1 || ds[1].ID != id2 || ds[0].Kind != store.NotDuplicates || ds[1].Kind != store.KeepAll {
					t.Fatalf("Decisions = %+v, %v; want both in id order", ds, err)
				}
				// Sorted by hash then path, the hash named twice kept twice.
				want := []store.DecisionFile{{Hash: Hash{1}, Path: "/p/a.jpg"}, {Hash: Hash{1}, Path: "/p/a2.jpg"}, {Hash: Hash{2}, Path: "/p/b.jpg"}}
				if !slices.Equal(ds[0].Files, want) || ds[0].Time.IsZero() {
					t.Fatalf("decision read back: %+v at %v, want files %+v and a time", ds[0].Files, ds[0].Time, want)
				}
				if ok, err := s.DeleteDecision(id1); !ok || err != nil {
					t.Fatalf("DeleteDecision = %t, %v", ok, err)
				}
				if ok, err := s.DeleteDecision(id1); ok || err != nil {
					t.Fatalf("DeleteDecision again = %t, %v; want false, nil", ok, err)
				}
				id3, err := s.AddDecision(store.Decision{Kind: store.KeepAll, Files: want})
				if err != nil || id3 <= id2 {
					t.Fatalf("AddDecision after a delete = %d, %v; want a new id above %d", id3, err, id2)
				}
				if ds, _ := s.Decisions(); len(ds) != 2 || ds[0].ID != id2 {
					t.Fatalf("after delete and add: %+v", ds)
				}
				if problems, err := s.Check(checkOptions()); len(problems) > 0 || err != nil {
					t.Fatalf("Check with decisions = %q, %v", problems, err)
				}
			})
			t.Run("IndexSnapshot", func(t *testing.T) {
				s := open(t, opts)
				if _, ok, err := s.LoadIndex(func(io.Reader) error { t.Fatal("read called with no snapshot"); return nil }); ok || err != nil {
					t.Fatalf("LoadIndex on an empty database = %t, %v", ok, err)
				}
				s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1)})
				m, _ := s.Meta()
				want := bytes.Repeat([]byte("snapshot"), 1000)
				if err := s.SaveIndex(m.ItemsVersion, func(w io.Writer) error { _, err := w.Write(want); return err }); err != nil {
					t.Fatal(err)
				}
				var got []byte
				version, current, err := s.LoadIndex(func(r io.Reader) error {
					var err error
					got, err = io.ReadAll(r)
					return err
				})
				if err != nil || !current || version != m.ItemsVersion || !bytes.Equal(got, want) {
					t.Fatalf("LoadIndex = version %d, current %t, %d bytes, %v", version, current, len(got), err)
				}
				s.Put([]store.Record{testRecord("/p/b.jpg", dims, 2)})
				if _, current, _ := s.LoadIndex(func(io.Reader) error { return nil }); current {
					t.Error("snapshot still current after a Put")
				}
			})
			t.Run("ReleaseThenUse", func(t *testing.T) {
				s := open(t, opts)
				s.Put([]store.Record{testRecord("/p/a.jpg", dims, 1)})
				if err := s.Release(); err != nil {
					t.Fatal(err)
				}
				if n, err := s.Len(); n != 1 || err != nil {
					t.Fatalf("Len after Release = %d, %v", n, err)
				}
				if problems, err := s.Check(checkOptions()); len(problems) > 0 || err != nil {
					t.Fatalf("Check of a healthy database = %q, %v", problems, err)
				}
			})
		})
	}
}

// TestStorage_ModelMismatch: a database keeps the model it was built
// with, reopened.
func TestStorage_ModelMismatch(t *testing.T) {
	for _, b := range backendDBs {
		t.Run(b.name, func(t *testing.T) { testModelMismatch(t, b.db(t)) })
	}
}

func testModelMismatch(t *testing.T, path string) {
	s, err := openStore(path, storageOptions{Fingerprint: "fp-1", Dims: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.Put([]store.Record{testRecord("/p/a.jpg", 4, 1)})
	s.Close()
	if _, err := openStore(path, storageOptions{Fingerprint: "fp-2", Dims: 4}); !errors.Is(err, ErrModelMismatch) {
		t.Fatalf("open with another fingerprint: %v, want ErrModelMismatch", err)
	}
	ro, err := openStore(path, storageOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("open without a fingerprint: %v", err)
	}
	defer ro.Close()
	if _, err := ro.Put([]store.Record{testRecord("/p/b.jpg", 4, 2)}); err == nil {
		t.Fatal("Put on a read-only database succeeded")
	}
}

// failingStorage is a backend whose writes fail once armed, as a full
// disk or a lost server connection would.
type failingStorage struct {
	storage
	puts    atomic.Int32 // Put calls that succeeded
	failAt  int32        // the Put call that fails first (1-based); 0 never
	release atomic.Int32
}

var errInjected = errors.New("injected write failure")

func (f *failingStorage) Put(recs []store.Record) ([]uint64, error) {
	if f.failAt > 0 && f.puts.Load()+1 >= f.failAt {
		return nil, errInjected
	}
	ids, err := f.storage.Put(recs)
	if err == nil {
		f.puts.Add(1)
	}
	return ids, err
}

func (f *failingStorage) Release() error {
	f.release.Add(1)
	return f.storage.Release()
}

// TestEngine_OnStorageInterface runs the engine on each backend given
// through the storage interface: a write that fails midway stops Index
// with the error, keeps what was committed, and the next run adds exactly
// the rest.
func TestEngine_OnStorageInterface(t *testing.T) {
	for _, b := range backendDBs {
		t.Run(b.name, func(t *testing.T) { testEngineOnStorage(t, b.db(t)) })
	}
}

func testEngineOnStorage(t *testing.T, db string) {
	dir := copyPhotos(t)
	var last *failingStorage
	open := func(failAt int32) *Engine {
		t.Helper()
		e, err := Open(context.Background(), &Options{
			DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"},
			openStorage: func(path string, o storageOptions) (storage, error) {
				s, err := openStore(path, o)
				if err != nil {
					return nil, err
				}
				last = &failingStorage{storage: s, failAt: failAt}
				return last, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	randomModel(t, nil)
	e := open(2)
	sum, err := e.Index(context.Background(), []string{dir}, &IndexOptions{BatchSize: 8})
	if !errors.Is(err, errInjected) {
		t.Fatalf("Index with a failing backend: %v, want the injected error", err)
	}
	committed, err := e.db.Len()
	if err != nil {
		t.Fatal(err)
	}
	if committed == 0 || sum.Added != committed {
		t.Errorf("summary counts %d added, the backend holds %d; want the one committed batch counted", sum.Added, committed)
	}
	if last.release.Load() == 0 {
		t.Error("the engine never released the backend between calls")
	}
	e.Close()

	e = open(0)
	defer e.Close()
	sum, err = e.Index(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unchanged != committed || sum.Added != len(files)-committed {
		t.Fatalf("rerun: %d added, %d unchanged; want %d added, %d unchanged", sum.Added, sum.Unchanged, len(files)-committed, committed)
	}
}

// TestDisplayDatabase: a message never shows a server database's
// password, and names a database file as the user gave it.
func TestDisplayDatabase(t *testing.T) {
	if got := DisplayDatabase("postgres://bob:s3cret@db.example:5432/photos"); strings.Contains(got, "s3cret") || !strings.Contains(got, "bob@db.example:5432/photos") {
		t.Errorf("DisplayDatabase of a DSN = %q, want it without the password", got)
	}
	if got := DisplayDatabase("rel/photos.db"); got != "rel/photos.db" {
		t.Errorf("DisplayDatabase of a file = %q, want it as given", got)
	}
}

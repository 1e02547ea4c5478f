package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpen_CreatesParentDirs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	m, err := db.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != SchemaVersion {
		t.Errorf("new database has schema version %d, want %d", m.SchemaVersion, SchemaVersion)
	}
}

const otherFP = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2"

func TestOpen_ModelCheck(t *testing.T) {
	vgg := Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 512}
	tests := []struct {
		name    string
		first   *Options // nil: no first open
		put     bool     // store one item after the first open
		second  Options
		wantErr error
		wantMsg []string
	}{
		{name: "same model", first: &vgg, put: true, second: vgg},
		{name: "no fingerprint skips the check", first: &vgg, put: true, second: Options{}},
		{name: "read-only, same model", first: &vgg, second: Options{ReadOnly: true, Fingerprint: testFP}},
		{
			name: "other fingerprint", first: &vgg, second: Options{Fingerprint: otherFP, ModelName: "vgg16-random"},
			wantErr: ErrModelMismatch, wantMsg: []string{"vgg16", "3f2a9c1b0d4e", "vgg16-random", "a1b2c3d4e5f6"},
		},
		{
			name: "other fingerprint, read-only", first: &vgg, second: Options{ReadOnly: true, Fingerprint: otherFP},
			wantErr: ErrModelMismatch, wantMsg: []string{"3f2a9c1b0d4e", "a1b2c3d4e5f6"},
		},
		{
			name: "other dims", first: &vgg, second: Options{Dims: 256},
			wantErr: ErrModelMismatch, wantMsg: []string{"512", "256"},
		},
		{
			name: "items of an unrecorded model", first: &Options{}, put: true, second: vgg,
			wantErr: ErrModelMismatch, wantMsg: []string{"1 vectors of an unrecorded model"},
		},
		{name: "empty database takes the fingerprint", first: &Options{}, second: vgg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "simsearch.db")
			db, err := Open(path, tt.first)
			if err != nil {
				t.Fatalf("first Open: %v", err)
			}
			if tt.put {
				mustPut(t, db, testRecords(0, 1, 512))
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open(path, &tt.second)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("second Open: %v", err)
				}
				db.Close()
				return
			}
			if err == nil {
				db.Close()
				t.Fatalf("second Open succeeded, want %v", tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("second Open: %v, want %v", err, tt.wantErr)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestOpen_RecordsModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 512})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Meta()
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{SchemaVersion: SchemaVersion, Fingerprint: testFP, ModelName: "vgg16", Dims: 512}
	if m != want {
		t.Errorf("Meta() = %+v, want %+v", m, want)
	}
}

// rawUpdate changes a closed database behind the store's back.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_SchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return putUint(tx.Bucket(bucketMeta), keySchema, SchemaVersion+1)
	})
	for _, ro := range []bool{false, true} {
		db, err := Open(path, &Options{ReadOnly: ro})
		if err == nil {
			db.Close()
			t.Fatalf("Open(ReadOnly: %t) succeeded on a newer schema", ro)
		}
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("Open(ReadOnly: %t): %v, want ErrSchemaTooNew", ro, err)
		}
	}
}

func TestOpen_NotADatabase(t *testing.T) {
	foreign := filepath.Join(t.TempDir(), "other.db")
	rawUpdate(t, foreign, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("settings"))
		return err
	})
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7 + i/251)
	}
	tests := []struct {
		name    string
		content []byte // nil: use foreign
		wantMsg string
	}{
		{"bbolt file of another program", nil, "not a simsearch database"},
		{"text", []byte("hello, this is not a database\n"), ""},
		{"jpeg", append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, noise...), ""},
		{"noise", noise, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := foreign
			if tt.content != nil {
				path = filepath.Join(t.TempDir(), "x.db")
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, ro := range []bool{false, true} {
				db, err := Open(path, &Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("Open(ReadOnly: %t) succeeded", ro)
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Open(ReadOnly: %t): %v, want ErrCorrupt saying %q", ro, err, tt.wantMsg)
				}
			}
		})
	}
}

func TestOpen_ReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none", "simsearch.db")
	_, err := Open(path, &Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open created %s", filepath.Dir(path))
	}
}

func TestOpen_ReadOnlyRefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 3, 4))
	db.Close()
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	writes := map[string]func() error{
		"Put":           func() error { _, err := db.Put(testRecords(5, 1, 4)); return err },
		"Delete":        func() error { return db.Delete([]uint64{1}) },
		"PutFailures":   func() error { return db.PutFailures(map[string]string{"/a": "b"}) },
		"ClearFailures": func() error { return db.ClearFailures([]string{"/a"}) },
		"SaveIndex":     func() error { return db.SaveIndex(1, writeBytes([]byte("x"))) },
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only database: %v, want ErrReadOnly", name, err)
		}
	}
	if n, err := db.Len(); err != nil || n != 3 {
		t.Errorf("Len() = %d, %v; want 3 and reads to work", n, err)
	}
}

func TestOpen_LockedInProcess(t *testing.T) {
	// bbolt's flock is per open file description, so a second Open in the
	// same process conflicts just as another process would.
	path := filepath.Join(t.TempDir(), "simsearch.db")
	writer, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(path, &Options{ReadOnly: ro, Timeout: -1})
		if !errors.Is(err, ErrLocked) {
			t.Errorf("Open(ReadOnly: %t) beside a writer: %v, want ErrLocked", ro, err)
		}
	}
	writer.Close()

	r1, err := Open(path, &Options{ReadOnly: true, Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, &Options{ReadOnly: true, Timeout: -1})
	if err != nil {
		t.Fatalf("second reader: %v, want readers to share", err)
	}
	r2.Close()
	if _, err := Open(path, &Options{Timeout: -1}); !errors.Is(err, ErrLocked) {
		t.Errorf("writer beside a reader: %v, want ErrLocked", err)
	}
}

func TestOpen_TimeoutWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = Open(path, &Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open: %v, want ErrLocked", err)
	}
	// Not a timing assertion on speed: only that it did not give up at once.
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v, want about the 200ms timeout", waited)
	}
}

func TestPut_AssignsAndReplaces(t *testing.T) {
	db := openTest(t, nil)
	ids := mustPut(t, db, testRecords(0, 3, 8))
	if !slices.Equal(ids, []uint64{1, 2, 3}) {
		t.Fatalf("first IDs = %v, want [1 2 3]", ids)
	}
	// Replace item 1 (same path, new data) and add one, in one batch with
	// the new path twice: the second copy wins and keeps the ID.
	changed := testRecords(1, 1, 8)[0]
	changed.Item.Size, changed.Item.Format, changed.Vector = 42, "png", testVector(100, 8)
	fresh := testRecords(10, 1, 8)[0]
	fresh2 := fresh
	fresh2.Item.Width = 7
	ids = mustPut(t, db, []Record{changed, fresh, fresh2})
	if !slices.Equal(ids, []uint64{2, 4, 4}) {
		t.Fatalf("second IDs = %v, want [2 4 4]", ids)
	}
	if n, _ := db.Len(); n != 4 {
		t.Errorf("Len() = %d, want 4", n)
	}
	got, ok, err := db.Item(2)
	if err != nil || !ok {
		t.Fatalf("Item(2) = %v, %v", ok, err)
	}
	want := changed.Item
	want.ID = 2
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Item(2) = %+v, want %+v", got, want)
	}
	got, ok, err = db.ItemByPath(fresh.Item.Path)
	if err != nil || !ok || got.ID != 4 || got.Width != 7 {
		t.Errorf("ItemByPath(%q) = %+v, %v, %v; want ID 4, width 7", fresh.Item.Path, got, ok, err)
	}
	vec, err := db.Vector(2)
	if err != nil || !slices.Equal(vec, testVector(100, 8)) {
		t.Errorf("Vector(2) = %v, %v; want the replaced vector", vec, err)
	}
	if _, ok, err := db.Item(99); ok || err != nil {
		t.Errorf("Item(99) = %v, %v; want not found", ok, err)
	}
	if _, ok, err := db.ItemByPath("/nowhere"); ok || err != nil {
		t.Errorf("ItemByPath(/nowhere) = %v, %v; want not found", ok, err)
	}
	if _, err := db.Vector(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Vector(99): %v, want ErrNotFound", err)
	}
	mustCheck(t, db)
}

func TestPut_Rejects(t *testing.T) {
	db := openTest(t, &Options{Dims: 8})
	mustPut(t, db, testRecords(0, 2, 8))
	bad := func(mod func(r *Record)) []Record {
		recs := testRecords(10, 3, 8)
		mod(&recs[2]) // the last of the batch: nothing may be stored
		return recs
	}
	tests := []struct {
		name    string
		recs    []Record
		wantErr error
	}{
		{"wrong dims", bad(func(r *Record) { r.Vector = r.Vector[:7] }), ErrDims},
		{"no vector", bad(func(r *Record) { r.Vector = nil }), ErrDims},
		{"empty path", bad(func(r *Record) { r.Item.Path = "" }), nil},
		{"negative width", bad(func(r *Record) { r.Item.Width = -1 }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := db.Put(tt.recs)
			if err == nil {
				t.Fatalf("Put succeeded with IDs %v", ids)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Put: %v, want %v", err, tt.wantErr)
			}
			if n, _ := db.Len(); n != 2 {
				t.Errorf("after a failed Put, Len() = %d, want 2: a batch is all or nothing", n)
			}
		})
	}
}

func TestPut_FirstVectorSetsDims(t *testing.T) {
	db := openTest(t, nil)
	mustPut(t, db, testRecords(0, 1, 6))
	if m, _ := db.Meta(); m.Dims != 6 {
		t.Errorf("Dims = %d after the first Put of 6-d vectors", m.Dims)
	}
	if _, err := db.Put(testRecords(1, 1, 5)); !errors.Is(err, ErrDims) {
		t.Errorf("Put of a 5-d vector: %v, want ErrDims", err)
	}
}

func TestItemsVersion_CountsChangingCommits(t *testing.T) {
	db := openTest(t, nil)
	version := func() uint64 {
		t.Helper()
		m, err := db.Meta()
		if err != nil {
			t.Fatal(err)
		}
		return m.ItemsVersion
	}
	steps := []struct {
		name string
		do   func() error
		want uint64
	}{
		{"put", func() error { _, err := db.Put(testRecords(0, 5, 4)); return err }, 1},
		{"replace", func() error { _, err := db.Put(testRecords(0, 1, 4)); return err }, 2},
		{"delete", func() error { return db.Delete([]uint64{1, 2}) }, 3},
		{"delete nothing", func() error { return db.Delete([]uint64{1, 77}) }, 3},
		{"failures", func() error { return db.PutFailures(map[string]string{"/x": "y"}) }, 3},
		{"empty put", func() error { _, err := db.Put(nil); return err }, 3},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := version(); got != s.want {
			t.Errorf("after %s, ItemsVersion = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestDelete_RemovesEverything(t *testing.T) {
	db := openTest(t, nil)
	recs := testRecords(0, 6, 4)
	mustPut(t, db, recs)
	if err := db.Delete([]uint64{2, 3, 5, 1000}); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		id := uint64(i + 1)
		gone := id == 2 || id == 3 || id == 5
		_, okID, _ := db.Item(id)
		_, okPath, _ := db.ItemByPath(r.Item.Path)
		_, vecErr := db.Vector(id)
		if okID == gone || okPath == gone || errors.Is(vecErr, ErrNotFound) != gone {
			t.Errorf("item %d: item %v, path %v, vector err %v; want deleted=%v", id, okID, okPath, vecErr, gone)
		}
	}
	if n, _ := db.Len(); n != 3 {
		t.Errorf("Len() = %d, want 3", n)
	}
	mustCheck(t, db)
	// IDs are never reused: a deleted path comes back under a new one.
	if ids := mustPut(t, db, recs[1:2]); ids[0] != 7 {
		t.Errorf("re-added path got ID %d, want 7", ids[0])
	}
}

func TestReads_CopyOutOfTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 3, 16))
	vec, err := db.Vector(1)
	if err != nil {
		t.Fatal(err)
	}
	it, _, err := db.Item(1)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]float32
	var items []Item
	if err := db.ForEachVector(func(_ uint64, v []float32) error { all = append(all, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.ForEachItem(func(it Item) error { items = append(items, it); return nil }); err != nil {
		t.Fatal(err)
	}
	vec[0] = 12345 // must not reach the database
	if again, _ := db.Vector(1); again[0] == 12345 {
		t.Error("changing a returned vector changed the stored one")
	}
	// Overwrite the records, then unmap the file: anything that pointed into
	// it would now show other data or fault.
	mustPut(t, db, []Record{{Item: testItem(0), Vector: testVector(50, 16)}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vec[1:], testVector(0, 16)[1:]) || !reflect.DeepEqual(it, withID(testItem(0), 1)) {
		t.Error("values read before Close changed after it")
	}
	for i, v := range all {
		if !slices.Equal(v, testVector(i, 16)) || !reflect.DeepEqual(items[i], withID(testItem(i), uint64(i+1))) {
			t.Errorf("record %d read by ForEach changed after Close", i)
		}
	}
	if cap(all[0]) != 16 {
		t.Errorf("ForEachVector's slices have capacity %d, want 16 so appends cannot clobber a neighbour", cap(all[0]))
	}
}

func withID(it Item, id uint64) Item {
	it.ID = id
	return it
}

func TestForEach_AllInOrderAcrossBatches(t *testing.T) {
	db := openTest(t, nil)
	const count = 2*readBatch + 100
	for i := 0; i < count; i += 500 {
		mustPut(t, db, testRecords(i, min(500, count-i), 4))
	}
	var ids []uint64
	err := db.ForEachItem(func(it Item) error {
		if want := withID(testItem(int(it.ID-1)), it.ID); !reflect.DeepEqual(it, want) {
			t.Fatalf("item %d = %+v, want %+v", it.ID, it, want)
		}
		ids = append(ids, it.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var vids []uint64
	err = db.ForEachVector(func(id uint64, v []float32) error {
		if !slices.Equal(v, testVector(int(id-1), 4)) {
			t.Fatalf("vector %d = %v", id, v)
		}
		vids = append(vids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]uint64{"items": ids, "vectors": vids} {
		if len(got) != count || !slices.IsSorted(got) || slices.Compact(slices.Clone(got))[count-1] != count {
			t.Errorf("ForEach over %s saw %d IDs (sorted %v), want 1..%d once each", name, len(got), slices.IsSorted(got), count)
		}
	}
}

func TestForEach_StopsAndMayWrite(t *testing.T) {
	db := openTest(t, nil)
	mustPut(t, db, testRecords(0, 10, 4))
	stop := errors.New("stop")
	n := 0
	err := db.ForEachItem(func(it Item) error {
		n++
		// Writing from the callback must not deadlock.
		if err := db.Delete([]uint64{it.ID}); err != nil {
			return err
		}
		if n == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Fatalf("ForEachItem returned %v after %d calls, want stop after 4", err, n)
	}
	if left, _ := db.Len(); left != 6 {
		t.Errorf("Len() = %d after deleting 4 in the callback, want 6", left)
	}
	n = 0
	err = db.ForEachVector(func(uint64, []float32) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ForEachVector returned %v after %d calls, want stop after 1", err, n)
	}
}

func TestFailures(t *testing.T) {
	db := openTest(t, nil)
	before := time.Now()
	if err := db.PutFailures(map[string]string{"/b.jpg": "truncated", "/a.gif": "not an image", "/c.png": "too large"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFailures(map[string]string{"/b.jpg": "unexpected EOF"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if err := db.ClearFailures([]string{"/c.png", "/unknown"}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Failures()
	if err != nil {
		t.Fatal(err)
	}
	want := []Failure{{Path: "/a.gif", Reason: "not an image"}, {Path: "/b.jpg", Reason: "unexpected EOF"}}
	if len(got) != len(want) {
		t.Fatalf("Failures() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Path != want[i].Path || got[i].Reason != want[i].Reason ||
			got[i].Time.Before(before.Truncate(0)) || got[i].Time.After(after) {
			t.Errorf("failure %d = %+v, want %+v timed between %v and %v", i, got[i], want[i], before, after)
		}
	}
	// Indexing a file after all clears its failure.
	rec := testRecords(0, 1, 4)[0]
	rec.Item.Path = "/b.jpg"
	mustPut(t, db, []Record{rec})
	if got, _ := db.Failures(); len(got) != 1 || got[0].Path != "/a.gif" {
		t.Errorf("after Put of /b.jpg, Failures() = %+v, want only /a.gif", got)
	}
}

func TestReopen_KeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16"}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 50, 8))
	if err := db.PutFailures(map[string]string{"/x": "y"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIndex(1, writeBytes([]byte("graph"))); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, _ := db.Meta()
	want := Meta{SchemaVersion: SchemaVersion, Fingerprint: testFP, ModelName: "vgg16", Dims: 8, ItemsVersion: 1,
		HasIndex: true, IndexVersion: 1}
	if m != want {
		t.Errorf("Meta() = %+v, want %+v", m, want)
	}
	if n, _ := db.Len(); n != 50 {
		t.Errorf("Len() = %d, want 50", n)
	}
	if f, _ := db.Failures(); len(f) != 1 {
		t.Errorf("Failures() = %v, want one", f)
	}
	if it, ok, _ := db.ItemByPath(testItem(49).Path); !ok || it.ID != 50 {
		t.Errorf("ItemByPath = %+v, %v; want ID 50", it, ok)
	}
	mustCheck(t, db)
}

package store

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func testDecision(kind DecisionKind, items ...int) Decision {
	d := Decision{Kind: kind, Time: time.Unix(1_700_000_000, 42)}
	for _, i := range items {
		it := testItem(i)
		d.Files = append(d.Files, DecisionFile{Hash: it.Hash, Path: it.Path})
	}
	return d
}

func TestDecisions_AddListDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := db.Decisions(); err != nil || len(ds) != 0 {
		t.Fatalf("Decisions of a new database = %v, %v", ds, err)
	}
	// Given in any order, stored sorted by hash.
	id1, err := db.AddDecision(testDecision(NotDuplicates, 3, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := db.AddDecision(Decision{Kind: KeepAll, Files: testDecision(0, 4, 5).Files})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == 0 || id2 <= id1 {
		t.Fatalf("ids %d, %d: want growing non-zero ids", id1, id2)
	}
	if _, err := db.AddDecision(testDecision(KeepAll, 1)); !errors.Is(err, ErrBadDecision) {
		t.Errorf("a decision of one file: %v, want ErrBadDecision", err)
	}
	db.Close()

	// They survive a reopen, read-only too.
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.Decisions()
	if err != nil || len(ds) != 2 {
		t.Fatalf("Decisions = %+v, %v; want 2", ds, err)
	}
	want := testDecision(NotDuplicates, 1, 2, 3)
	sortDecisionFiles(want.Files)
	want.ID = id1
	if !reflect.DeepEqual(ds[0], want) {
		t.Errorf("decision read back:\n got %+v\nwant %+v", ds[0], want)
	}
	if ds[1].ID != id2 || ds[1].Kind != KeepAll || time.Since(ds[1].Time) > time.Hour {
		t.Errorf("second decision %+v: want id %d, keep, stamped now", ds[1], id2)
	}
	if _, err := db.AddDecision(testDecision(KeepAll, 1, 2)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("AddDecision read-only: %v, want ErrReadOnly", err)
	}
	db.Close()

	db = mustOpen(t, path)
	if ok, err := db.DeleteDecision(id1); !ok || err != nil {
		t.Fatalf("DeleteDecision(%d) = %t, %v", id1, ok, err)
	}
	if ok, err := db.DeleteDecision(id1); ok || err != nil {
		t.Fatalf("DeleteDecision of a forgotten id = %t, %v; want false, nil", ok, err)
	}
	id3, err := db.AddDecision(testDecision(KeepAll, 1, 2))
	if err != nil || id3 <= id2 {
		t.Fatalf("id after a delete = %d, %v; want above %d, never reused", id3, err, id2)
	}
	mustCheck(t, db)
}

func mustOpen(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A read-only open of a database that never had a decision has no
// bucket to read: that is no decisions, not an error.
func TestDecisions_NoBucketReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db := mustOpen(t, path)
	mustPut(t, db, testRecords(0, 2, 4))
	db.Close()
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ds, err := ro.Decisions(); err != nil || ds != nil {
		t.Fatalf("Decisions = %v, %v", ds, err)
	}
	if ok, err := ro.DeleteDecision(1); ok || !errors.Is(err, ErrReadOnly) {
		t.Fatalf("DeleteDecision read-only = %t, %v", ok, err)
	}
}

// A damaged decision record is ErrCorrupt for Decisions (never silently
// dropped: it may be a "keep"), a problem for Check, and left behind by
// Salvage, which copies the others under their ids.
func TestDecisions_Damaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db := mustOpen(t, path)
	mustPut(t, db, testRecords(0, 3, 4))
	good, _ := db.AddDecision(testDecision(KeepAll, 0, 1))
	bad, _ := db.AddDecision(testDecision(NotDuplicates, 1, 2))
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDecisions).Put(idKey(bad), []byte{decisionCodec, byte(KeepAll), 0, 2, 1, 2, 3})
	})
	db = mustOpen(t, path)
	if _, err := db.Decisions(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "decision 2") {
		t.Errorf("Decisions with a damaged record: %v, want ErrCorrupt naming decision 2", err)
	}
	problems, err := db.Check(nil)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Text, "decision 2 cannot be decoded") {
		t.Fatalf("Check = %q, %v; want the damaged decision", problems, err)
	}
	db.Close()

	rep, err := SalvageInPlace(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 3 || rep.Lost != 1 {
		t.Errorf("salvage: %d items, %d lost; want 3 and the damaged decision", rep.Items, rep.Lost)
	}
	db = mustOpen(t, path)
	mustCheck(t, db)
	ds, err := db.Decisions()
	if err != nil || len(ds) != 1 || ds[0].ID != good || ds[0].Kind != KeepAll {
		t.Fatalf("after salvage: %+v, %v; want decision %d alone", ds, err, good)
	}
	if id, _ := db.AddDecision(testDecision(KeepAll, 0, 2)); id <= bad {
		t.Errorf("new id %d after salvage: want above the lost decision's %d", id, bad)
	}
}

func TestCheck_ReportsBadDecisions(t *testing.T) {
	tests := []struct {
		name string
		put  func(b *bolt.Bucket) error
		want string
	}{
		{"garbled", func(b *bolt.Bucket) error { return b.Put(idKey(1), []byte{decisionCodec}) }, "decision 1 cannot be decoded"},
		{"unknown codec", func(b *bolt.Bucket) error {
			v := appendDecision(nil, testDecision(KeepAll, 1, 2))
			v[0] = 9
			return b.Put(idKey(1), v)
		}, "unknown decision codec 9"},
		{"one file", func(b *bolt.Bucket) error {
			return b.Put(idKey(1), appendDecision(nil, testDecision(KeepAll, 1)))
		}, "names 1 files"},
		{"unsorted", func(b *bolt.Bucket) error {
			d := testDecision(KeepAll, 1, 2)
			sortDecisionFiles(d.Files)
			d.Files[0], d.Files[1] = d.Files[1], d.Files[0]
			return b.Put(idKey(1), appendDecision(nil, d))
		}, "files out of order"},
		{"bad key", func(b *bolt.Bucket) error {
			return b.Put([]byte("x"), appendDecision(nil, testDecision(KeepAll, 1, 2)))
		}, "decision key 78 is not an id"},
		{"sequence behind", func(b *bolt.Bucket) error {
			d := testDecision(KeepAll, 1, 2)
			sortDecisionFiles(d.Files)
			return b.Put(idKey(5), appendDecision(nil, d))
		}, "decision id sequence is at 1, below the highest decision id 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "simsearch.db")
			db := mustOpen(t, path)
			mustPut(t, db, testRecords(0, 2, 4))
			db.Close()
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(bucketDecisions)
				if err != nil {
					return err
				}
				if err := b.SetSequence(1); err != nil {
					return err
				}
				return tt.put(b)
			})
			db = mustOpen(t, path)
			problems, err := db.Check(nil)
			if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Text, tt.want) {
				t.Fatalf("Check = %q, %v; want one problem saying %q", problems, err, tt.want)
			}
		})
	}
}

// Compaction copies the bucket and its sequence, so ids are not reused.
func TestDecisions_SurviveCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db := mustOpen(t, path)
	mustPut(t, db, testRecords(0, 3, 4))
	db.AddDecision(testDecision(KeepAll, 0, 1))
	last, _ := db.AddDecision(testDecision(NotDuplicates, 1, 2))
	db.DeleteDecision(last)
	db.Close()
	if _, _, err := CompactInPlace(path, 0); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, path)
	ds, err := db.Decisions()
	if err != nil || len(ds) != 1 {
		t.Fatalf("after compact: %+v, %v", ds, err)
	}
	if id, _ := db.AddDecision(testDecision(KeepAll, 0, 2)); id <= last {
		t.Errorf("id %d after compact: want above %d", id, last)
	}
}

func TestDecodeDecision_RoundTrip(t *testing.T) {
	d := testDecision(DecisionKind(7), 5, 5, 9) // a kind from a newer simsearch, a hash twice
	sortDecisionFiles(d.Files)
	got, err := decodeDecision(appendDecision(nil, d))
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, d)
	}
	// A count that would need more bytes than there are must not allocate.
	if _, err := decodeDecision([]byte{decisionCodec, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Error("a huge file count decoded")
	}
}

// FuzzDecodeDecision checks that no input makes decodeDecision panic,
// and that whatever it accepts survives encoding again unchanged.
func FuzzDecodeDecision(f *testing.F) {
	d := testDecision(NotDuplicates, 1, 2, 3)
	sortDecisionFiles(d.Files)
	f.Add(appendDecision(nil, d))
	f.Add(appendDecision(nil, Decision{Kind: KeepAll, Files: make([]DecisionFile, 2)}))
	f.Add([]byte{decisionCodec, 2, 0, 0xff, 0xff, 0x03})
	f.Add([]byte{decisionCodec + 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDecision(b)
		if err != nil {
			if !reflect.DeepEqual(d, Decision{}) {
				t.Fatalf("failed decode returned %+v", d)
			}
			return
		}
		again, err := decodeDecision(appendDecision(nil, d))
		if err != nil {
			t.Fatalf("re-encoded decision does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("re-encoding changed the decision:\n got %+v\nwant %+v", again, d)
		}
	})
}

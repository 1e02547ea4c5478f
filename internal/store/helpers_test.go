package store

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"
)

const testFP = "3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"

// openTest opens a new database in a temporary directory and closes it
// when the test ends.
func openTest(t testing.TB, opts *Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "simsearch.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// testVector is a deterministic vector that differs for every i.
func testVector(i, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(math.Sin(float64(i*dims+j))) * float32(i+1)
	}
	return v
}

func testItem(i int) Item {
	it := Item{
		Path:    fmt.Sprintf("/photos/%04d/IMG_%06d.jpg", i%97, i),
		Size:    int64(3_000_000 + i),
		ModTime: 1_700_000_000_000_000_000 + int64(i)*1_000_000_007,
		Width:   4000 + i%3,
		Height:  3000,
		Format:  "jpeg",
		Taken:   1_500_000_000_000_000_000 + int64(i)*60_000_000_000,
	}
	for j := range it.Hash {
		it.Hash[j] = byte(i*31 + j)
	}
	// Odd items carry labels, so that every test of the store sees items
	// with and without them.
	if i%2 == 1 {
		it.Labels = []LabelSet{{Source: "imagenet", Top: []Label{
			{ID: "n02129604", Name: "tiger", Prob: 0.5 + float32(i%7)/100},
			{ID: fmt.Sprintf("n%08d", i), Name: "tiger cat", Prob: 0.25},
		}}}
		if i%4 == 3 {
			it.Labels = append(it.Labels, LabelSet{Source: "head", Top: []Label{{ID: "cats", Name: "cats", Prob: 1}}})
		}
	}
	// Every fifth item has its capture time as written and its camera,
	// half of them with a zone.
	if i%5 == 0 {
		when := time.Unix(0, it.Taken).UTC()
		it.TakenAt = when.Format(time.RFC3339Nano)
		if i%10 == 5 {
			it.TakenAt = when.Format("2006-01-02T15:04:05.999999999")
		}
		it.Make, it.Model = "Canon", fmt.Sprintf("EOS %dD", i%9)
	}
	return it
}

// testRecords returns records n..n+count-1.
func testRecords(from, count, dims int) []Record {
	recs := make([]Record, count)
	for i := range recs {
		recs[i] = Record{Item: testItem(from + i), Vector: testVector(from+i, dims)}
	}
	return recs
}

func mustPut(t testing.TB, db *DB, recs []Record) []uint64 {
	t.Helper()
	ids, err := db.Put(recs)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return ids
}

func mustCheck(t testing.TB, db *DB) {
	t.Helper()
	problems, err := db.Check(nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(problems) > 0 {
		t.Fatalf("Check found problems:\n%v", problems)
	}
}

package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rewriteItem stores item id's record with the path changed, as a flipped
// byte would leave it, without touching the path index.
func rewriteItem(id uint64, path string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		it := testItem(int(id) - 1)
		it.Path = path
		return tx.Bucket(bucketItems).Put(idKey(id), appendItem(nil, it))
	}
}

// Check finds each broken invariant, says what repairs it, and
// RepairInPlace mends every one that is not damage to the file, dropping
// the items concerned and nothing else.
func TestCheck_ReportsBrokenInvariants(t *testing.T) {
	// Items 1..4 of 4 dims, paths of testItem(0..3).
	tests := []struct {
		name     string
		sabotage func(tx *bolt.Tx) error
		want     []string // one problem each, in order
		kind     ProblemKind
		kept     []int // testItem indices left after RepairInPlace; nil: it refuses
	}{
		{"vector lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVectors).Delete(idKey(2))
		}, []string{"item 2 has no vector"}, BadRecord, []int{0, 2, 3}},
		{"item lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).Delete(idKey(3))
		}, []string{"vector 3 has no item", "path " + testItem(2).Path + " points to item 3, which does not exist"}, BadRecord, []int{0, 1, 3}},
		{"path entry lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketPaths).Delete([]byte(testItem(0).Path))
		}, []string{"item 1 (" + testItem(0).Path + ") is missing from the path index"}, BadRecord, []int{1, 2, 3}},
		{"path entry crossed", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketPaths).Put([]byte(testItem(0).Path), idKey(2))
		}, []string{
			"item 1 (" + testItem(0).Path + ") is indexed under item 2",
			"path " + testItem(0).Path + " points to item 2, whose path is " + testItem(1).Path,
		}, BadRecord, []int{1, 2, 3}},
		{"path flipped in the item", rewriteItem(2, "/photos/0001/IMG_000001.jpG"), []string{
			"item 2 (/photos/0001/IMG_000001.jpG) is missing from the path index",
			"path " + testItem(1).Path + " points to item 2, whose path is /photos/0001/IMG_000001.jpG",
		}, BadRecord, []int{0, 2, 3}},
		{"control byte flipped into the item's path", rewriteItem(2, "/photos/0001/IMG_\x1b00001.jpg"), []string{
			`item 2 ("/photos/0001/IMG_\x1b00001.jpg") is missing from the path index`,
			"path " + testItem(1).Path + ` points to item 2, whose path is "/photos/0001/IMG_\x1b00001.jpg"`,
		}, BadRecord, []int{0, 2, 3}},
		{"path flipped in the path index", func(tx *bolt.Tx) error {
			pb := tx.Bucket(bucketPaths)
			if err := pb.Delete([]byte(testItem(2).Path)); err != nil {
				return err
			}
			return pb.Put([]byte("/photos/0002/IMG_\xff00002.jpg"), idKey(3))
		}, []string{
			"item 3 (" + testItem(2).Path + ") is missing from the path index",
			`path "/photos/0002/IMG_\xff00002.jpg" points to item 3, whose path is ` + testItem(2).Path,
		}, BadRecord, []int{0, 1, 3}},
		{"short vector", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVectors).Put(idKey(4), make([]byte, 12))
		}, []string{"vector 4 is 12 bytes long, 4 dimensions need 16"}, BadRecord, []int{0, 1, 2}},
		{"garbled item", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).Put(idKey(4), []byte{itemCodec, 5, 'a'})
		}, []string{"item 4 cannot be decoded: record is truncated"}, BadRecord, []int{0, 1, 2}},
		{"item key not an id", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).Put([]byte("junk"), appendItem(nil, testItem(9)))
		}, []string{"item key 6a756e6b is not an id"}, BadRecord, []int{0, 1, 2, 3}},
		{"sequence behind", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).SetSequence(2)
		}, []string{"the id sequence is at 2, below the highest item id 4"}, BadRecord, []int{0, 1, 2, 3}},
		{"garbled failure", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketFailures).Put([]byte("/f"), []byte{7})
		}, []string{"failure of /f cannot be decoded"}, BadRecord, []int{0, 1, 2, 3}},
		{"dims not a number", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyDims, []byte{4})
		}, []string{
			"meta dims is 1 bytes long, not a number",
			"vector 1 is stored but the database records no dimensions",
			"vector 2 is stored", "vector 3 is stored", "vector 4 is stored",
		}, Damaged, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "simsearch.db")
			db, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			mustPut(t, db, testRecords(0, 4, 4))
			mustCheck(t, db)
			db.Close()
			rawUpdate(t, path, tt.sabotage)
			// Open refuses no such damage: it is for Check to find.
			db, err = Open(path, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			problems, err := db.Check(nil)
			db.Close()
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(problems) != len(tt.want) {
				t.Fatalf("Check() = %q, want %d problems like %q", problems, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(problems[i].Text, w) || problems[i].Kind != tt.kind {
					t.Errorf("problem %d = %q of kind %d, want it to say %q, of kind %d", i, problems[i], problems[i].Kind, w, tt.kind)
				}
			}
			db, err = Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rep, err := db.RepairInPlace(nil)
			if tt.kept == nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("RepairInPlace: %v, want ErrCorrupt for damage that takes a salvage", err)
				}
				if again, _ := db.Check(nil); len(again) != len(problems) {
					t.Errorf("a refused RepairInPlace changed the file: Check now finds %q", again)
				}
				return
			}
			if err != nil {
				t.Fatalf("RepairInPlace: %v", err)
			}
			t.Logf("repair: %+v", rep)
			mustCheck(t, db)
			var want, got []string
			for _, i := range tt.kept {
				want = append(want, testItem(i).Path)
			}
			err = db.ForEachItem(func(it Item) error {
				got = append(got, it.Path)
				if v, err := db.Vector(it.ID); err != nil || len(v) != 4 {
					t.Errorf("item %d (%s) kept without its vector: %v", it.ID, it.Path, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("items after RepairInPlace %q, want %q", got, want)
			}
			if n, err := db.Len(); err != nil || n != len(tt.kept) {
				t.Errorf("Len() = %d after RepairInPlace (%v), want %d", n, err, len(tt.kept))
			}
		})
	}
}

// unitRecords are records whose vectors have length 1, as the engine
// stores them.
func unitRecords(from, count, dims int) []Record {
	recs := testRecords(from, count, dims)
	for _, r := range recs {
		var ss float64
		for _, x := range r.Vector {
			ss += float64(x) * float64(x)
		}
		for i := range r.Vector {
			r.Vector[i] /= float32(math.Sqrt(ss))
		}
	}
	return recs
}

// With UnitVectors, a vector that is not of unit length is damage: Check
// reports it with its item's path, RepairInPlace drops the item, and
// Salvage does not copy it. Without, it is data.
func TestCheck_UnitVectors(t *testing.T) {
	unit := &CheckOptions{UnitVectors: true}
	for _, flip := range []struct {
		name string
		fn   func(v []float32)
	}{
		{"scaled", func(v []float32) { v[0] *= 3 }},
		{"exponent bit", func(v []float32) { v[5] = math.Float32frombits(math.Float32bits(v[5]) ^ 1<<27) }},
		{"NaN", func(v []float32) { v[7] = float32(math.NaN()) }},
	} {
		t.Run(flip.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "simsearch.db")
			db, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			recs := unitRecords(0, 4, 64)
			mustPut(t, db, recs)
			if problems, err := db.Check(unit); err != nil || len(problems) > 0 {
				t.Fatalf("Check of unit vectors: %q, %v", problems, err)
			}
			flip.fn(recs[2].Vector)
			mustPut(t, db, recs[2:3])
			if problems, err := db.Check(nil); err != nil || len(problems) > 0 {
				t.Errorf("Check(nil) holds vectors to no length: %q, %v", problems, err)
			}
			problems, err := db.Check(unit)
			if err != nil || len(problems) != 1 || problems[0].Kind != BadRecord ||
				problems[0].Path != testItem(2).Path || !strings.Contains(problems[0].Text, "vector 3 (of "+testItem(2).Path+") is damaged") {
				t.Fatalf("Check(unit) = %q, %v; want vector 3 of %s reported", problems, err, testItem(2).Path)
			}

			db.Close()
			dst := filepath.Join(t.TempDir(), "salvaged.db")
			rep, err := Salvage(path, dst, unit)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Items != 3 || rep.Lost != 1 || len(rep.Problems) != 1 || rep.Problems[0].Path != testItem(2).Path {
				t.Errorf("Salvage: %+v, want 3 items copied and %s lost", rep, testItem(2).Path)
			}

			db, err = Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			if rep, err := db.RepairInPlace(unit); err != nil || !slices.Equal(rep.Items, []uint64{3}) {
				t.Fatalf("RepairInPlace: %+v, %v; want item 3 dropped", rep, err)
			}
			if problems, err := db.Check(unit); err != nil || len(problems) > 0 {
				t.Errorf("Check after RepairInPlace: %q, %v", problems, err)
			}
			if _, ok, _ := db.ItemByPath(testItem(2).Path); ok {
				t.Errorf("%s is still stored", testItem(2).Path)
			}
		})
	}
}

// Salvage copies only items that agree with the path index both ways: a
// path flipped in the item record (which Put would otherwise index under
// the wrong path) or in the path index loses that item, and nothing else.
func TestSalvage_DropsItemsThePathIndexDisowns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 6, 4))
	db.Close()
	rawUpdate(t, path, rewriteItem(2, "/elsewhere/IMG_000001.jpg"))
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPaths).Put([]byte(testItem(4).Path), idKey(4))
	})
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	rep, err := Salvage(path, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	s, err := Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCheck(t, s)
	var got []string
	if err := s.ForEachItem(func(it Item) error { got = append(got, it.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{testItem(0).Path, testItem(2).Path, testItem(3).Path, testItem(5).Path}
	if !slices.Equal(got, want) || rep.Items != 4 || rep.Lost != 2 {
		t.Errorf("salvaged %q (%+v), want %q", got, rep, want)
	}
}

func TestCheck_CapsReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, maxProblems+10, 2))
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketVectors); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketVectors)
		return err
	})
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	problems, err := db.Check(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != maxProblems+1 || problems[maxProblems].Text != "... and 10 more problems" || problems[maxProblems].Kind != BadRecord {
		t.Errorf("Check listed %d problems ending %q, want %d and a count of the rest",
			len(problems), problems[len(problems)-1], maxProblems+1)
	}
	// RepairInPlace drops all of them, not only those listed.
	rep, err := db.RepairInPlace(nil)
	if err != nil || len(rep.Items) != maxProblems+10 {
		t.Fatalf("RepairInPlace dropped %d items (%v), want %d", len(rep.Items), err, maxProblems+10)
	}
	mustCheck(t, db)
}

func TestCheck_WhileWriting(t *testing.T) {
	db := openTest(t, nil)
	mustPut(t, db, testRecords(0, 100, 8))
	done := make(chan error)
	go func() {
		for i := 1; i < 20; i++ {
			if _, err := db.Put(testRecords(i*100, 100, 8)); err != nil {
				done <- err
				return
			}
			if err := db.Delete([]uint64{uint64(i * 50)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		mustCheck(t, db)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)
}

// A key damaged out of order in a page of vectors is reported as what it
// is, and does not make every item after it seem to lack its vector (a
// few near it do: a lookup's binary search in that page misses them).
func TestCheck_KeyOutOfOrderStaysLocal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 200, 16))
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// In a leaf page a key lies just before its value.
	kv := append(idKey(50), appendVector(nil, testVector(49, 16))...)
	i := bytes.Index(b, kv)
	if i < 0 {
		t.Fatal("vector 50 not found in the file")
	}
	b[i] = 0xf0
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	problems, err := db.Check(nil)
	if err != nil {
		t.Fatal(err)
	}
	noVector := 0
	for _, p := range problems {
		if strings.Contains(p.Text, "has no vector") {
			noVector++
		}
	}
	if noVector > 10 || !slices.ContainsFunc(problems, func(p Problem) bool { return p.Kind == Damaged }) {
		t.Errorf("Check() = %q; want the page reported damaged and a few items without vectors, not 150", problems)
	}
}

// A vector whose length was damaged is corrupt to the readers too: the
// index the engine builds from ForEachVector would refuse it with an
// error that says nothing about the file.
func TestForEachVector_WrongSizeIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 4, 4))
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVectors).Put(idKey(3), make([]byte, 20))
	})
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.ForEachVector(func(uint64, []float32) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ForEachVector over a 5-float vector in a 4-d database: %v, want ErrCorrupt", err)
	}
}

// A damaged page of items loses Salvage the items on it and no more: the
// walk finds the first id past the damage instead of leaping over it.
func TestSalvage_LosesOnlyTheDamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 1000, 4))
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf page that holds item 401 (testItem(400)); its header says
	// how many items it holds, its first element which.
	i := bytes.Index(b, appendItem(nil, testItem(400)))
	if i < 0 {
		t.Fatal("item 401 not found in the file")
	}
	pg := i - i%pageSize
	count := int(binary.LittleEndian.Uint16(b[pg+10:]))
	e := pg + 16
	first := binary.BigEndian.Uint64(b[e+int(binary.LittleEndian.Uint32(b[e+4:])):])
	for j := range 16 {
		b[pg+j] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Salvage(path, filepath.Join(t.TempDir(), "salvaged.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("items %d to %d on the damaged page; %+v", first, first+uint64(count)-1, rep.Problems)
	if rep.Items != 1000-count || rep.Lost != 1 || !strings.Contains(rep.Problems[0].Text, fmt.Sprintf("items %d to %d could not be read", first, first+uint64(count)-1)) {
		t.Errorf("salvaged %d items, lost %d (%q); want all but the %d on the damaged page, lost as one run", rep.Items, rep.Lost, rep.Problems, count)
	}
}

// Two salvages within one second keep both files they replace: the second
// must not take the first one's name.
func TestSalvageInPlace_KeepsEveryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(0, 10, 4))
	db.Close()
	var kept []string
	for range 2 {
		rep, err := SalvageInPlace(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, rep.Kept)
	}
	if kept[0] == kept[1] {
		t.Fatalf("both salvages kept the file as %s", kept[0])
	}
	for _, k := range kept {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("kept file: %v", err)
		}
	}
}

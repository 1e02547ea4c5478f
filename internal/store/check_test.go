package store

import (
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCheck_ReportsBrokenInvariants(t *testing.T) {
	// Items 1..4 of 4 dims, paths of testItem(0..3).
	tests := []struct {
		name     string
		sabotage func(tx *bolt.Tx) error
		want     []string // one problem each, in order
	}{
		{"vector lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVectors).Delete(idKey(2))
		}, []string{"item 2 has no vector"}},
		{"item lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).Delete(idKey(3))
		}, []string{"vector 3 has no item", "path " + testItem(2).Path + " points to item 3, which does not exist"}},
		{"path entry lost", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketPaths).Delete([]byte(testItem(0).Path))
		}, []string{"item 1 (" + testItem(0).Path + ") is missing from the path index"}},
		{"path entry crossed", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketPaths).Put([]byte(testItem(0).Path), idKey(2))
		}, []string{
			"item 1 (" + testItem(0).Path + ") is indexed under item 2",
			"path " + testItem(0).Path + " points to item 2, whose path is " + testItem(1).Path,
		}},
		{"short vector", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVectors).Put(idKey(4), make([]byte, 12))
		}, []string{"vector 4 is 12 bytes long, 4 dimensions need 16"}},
		{"garbled item", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).Put(idKey(4), []byte{itemCodec, 5, 'a'})
		}, []string{"item 4 cannot be decoded: record is truncated"}},
		{"sequence behind", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketItems).SetSequence(2)
		}, []string{"the id sequence is at 2, below the highest item id 4"}},
		{"garbled failure", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketFailures).Put([]byte("/f"), []byte{7})
		}, []string{"failure of /f cannot be decoded"}},
		{"no schema", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(keySchema)
		}, []string{"schema version is 0"}},
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
			defer db.Close()
			problems, err := db.Check()
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(problems) != len(tt.want) {
				t.Fatalf("Check() = %q, want %d problems like %q", problems, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %d = %q, want it to say %q", i, problems[i], w)
				}
			}
		})
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
	problems, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != maxProblems+1 || problems[maxProblems] != "... and 10 more problems" {
		t.Errorf("Check listed %d problems ending %q, want %d and a count of the rest",
			len(problems), problems[len(problems)-1], maxProblems+1)
	}
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

package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writeBytes is a SaveIndex write function that writes b in uneven pieces.
func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		for step := 1; len(b) > 0; step = step*3 + 1 {
			n := min(step, len(b))
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
}

// readAll is a LoadIndex read function that keeps what it reads in *dst.
func readAll(dst *[]byte) func(io.Reader) error {
	return func(r io.Reader) error {
		var err error
		*dst, err = io.ReadAll(r)
		return err
	}
}

// readLent is a LoadIndex read function that takes the snapshot through
// the reader's Next, as index.Load does, asking for pieces of uneven
// sizes, and keeps it in *dst.
func readLent(dst *[]byte) func(io.Reader) error {
	return func(r io.Reader) error {
		l, ok := r.(interface{ Next(int) ([]byte, error) })
		if !ok {
			return errors.New("snapshot reader does not lend")
		}
		*dst = nil
		for step := 1; ; step = step*5%(3*chunkSize) + 1 {
			b, err := l.Next(step)
			if len(b) > step {
				return fmt.Errorf("asked for %d bytes, lent %d", step, len(b))
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if len(b) == 0 {
				return errors.New("lent nothing without an error")
			}
			*dst = append(*dst, b...)
		}
	}
}

func snapshotData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8 ^ i>>16)
	}
	return b
}

func TestSnapshot_RoundTripInChunks(t *testing.T) {
	db := openTest(t, nil)
	db.snapshotTxBytes = 2 * chunkSize // so this snapshot spans transactions
	data := snapshotData(5*chunkSize/2 + 17)
	mustPut(t, db, testRecords(0, 3, 4))
	if err := db.SaveIndex(1, writeBytes(data)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	version, ok, err := db.LoadIndex(readAll(&got))
	if err != nil || version != 1 || !ok {
		t.Fatalf("LoadIndex = %d, %v, %v; want 1, current", version, ok, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("loaded %d bytes that differ from the %d saved", len(got), len(data))
	}
	var lent []byte
	if _, _, err := db.LoadIndex(readLent(&lent)); err != nil || !bytes.Equal(lent, data) {
		t.Fatalf("lent %d bytes (%v), want the %d saved", len(lent), err, len(data))
	}
	var sizes []int
	err = db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshot).Bucket(bucketChunks).ForEach(func(_, v []byte) error {
			sizes = append(sizes, len(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 3 || sizes[0] != chunkSize || sizes[2] != chunkSize/2+17 {
		t.Errorf("chunk sizes %v, want two of 1 MiB and the rest", sizes)
	}
	mustCheck(t, db)
}

func TestSnapshot_Staleness(t *testing.T) {
	db := openTest(t, nil)
	called := false
	version, ok, err := db.LoadIndex(func(io.Reader) error { called = true; return nil })
	if err != nil || ok || version != 0 || called {
		t.Fatalf("LoadIndex with no snapshot = %d, %v, %v, read called %v; want nothing", version, ok, err, called)
	}
	mustPut(t, db, testRecords(0, 3, 4))
	if err := db.SaveIndex(1, writeBytes([]byte("index at 1"))); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, testRecords(3, 1, 4))
	var got []byte
	version, ok, err = db.LoadIndex(readAll(&got))
	if err != nil || ok || version != 1 || string(got) != "index at 1" {
		t.Errorf("after another Put, LoadIndex = %d, %v, %v, %q; want version 1, stale, still readable", version, ok, err, got)
	}
	if m, _ := db.Meta(); !m.HasIndex || m.IndexVersion != 1 || m.ItemsVersion != 2 {
		t.Errorf("Meta() = %+v, want an index at 1 and items at 2", m)
	}
	if err := db.SaveIndex(2, writeBytes(nil)); err != nil {
		t.Fatal(err)
	}
	version, ok, err = db.LoadIndex(readAll(&got))
	if err != nil || !ok || version != 2 || len(got) != 0 {
		t.Errorf("empty snapshot at 2: LoadIndex = %d, %v, %v, %q; want current and empty", version, ok, err, got)
	}
}

func TestSnapshot_FailedSaveLeavesNone(t *testing.T) {
	db := openTest(t, nil)
	db.snapshotTxBytes = chunkSize
	if err := db.SaveIndex(0, writeBytes([]byte("old"))); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := db.SaveIndex(1, func(w io.Writer) error {
		if err := writeBytes(snapshotData(3 * chunkSize))(w); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("SaveIndex: %v, want the write function's error", err)
	}
	called := false
	if _, ok, err := db.LoadIndex(func(io.Reader) error { called = true; return nil }); err != nil || ok || called {
		t.Errorf("after a failed save LoadIndex = %v, %v, read called %v; want no snapshot", ok, err, called)
	}
	mustCheck(t, db)
}

func TestSnapshot_DamageIsCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		damage func(chunks *bolt.Bucket) error
	}{
		{"flipped byte", func(c *bolt.Bucket) error {
			v := bytes.Clone(c.Get(idKey(1)))
			v[100] ^= 1
			return c.Put(idKey(1), v)
		}},
		{"missing chunk", func(c *bolt.Bucket) error { return c.Delete(idKey(1)) }},
		{"missing last chunk", func(c *bolt.Bucket) error { return c.Delete(idKey(2)) }},
		{"extra chunk", func(c *bolt.Bucket) error { return c.Put(idKey(3), []byte("more")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, nil)
			if err := db.SaveIndex(0, writeBytes(snapshotData(2*chunkSize+5))); err != nil {
				t.Fatal(err)
			}
			err := db.update(func(tx *bolt.Tx) error {
				return tt.damage(tx.Bucket(bucketSnapshot).Bucket(bucketChunks))
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if _, _, err := db.LoadIndex(readAll(&got)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("LoadIndex: %v, want ErrCorrupt", err)
			}
			if _, _, err := db.LoadIndex(readLent(&got)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("LoadIndex through Next: %v, want ErrCorrupt", err)
			}
			if problems, err := db.Check(nil); err != nil || len(problems) != 1 || problems[0].Kind != BadSnapshot {
				t.Errorf("Check() = %q, %v; want the snapshot reported", problems, err)
			}
		})
	}
}

// The snapshot reader says how long it is, so the index decoder sizes its
// arrays once.
func TestLoadIndex_ReaderKnowsItsLength(t *testing.T) {
	db := openTest(t, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: four chunks
	if err := db.SaveIndex(1, writeBytes(data)); err != nil {
		t.Fatal(err)
	}
	_, _, err := db.LoadIndex(func(r io.Reader) error {
		l, ok := r.(interface{ Len() int })
		if !ok {
			t.Fatal("snapshot reader has no Len")
		}
		if l.Len() != len(data) {
			t.Errorf("Len() = %d before reading, want %d", l.Len(), len(data))
		}
		got, err := io.ReadAll(io.LimitReader(r, 1000))
		if err != nil || len(got) != 1000 || l.Len() != len(data)-1000 {
			t.Errorf("after reading 1000 bytes: Len() = %d (%v)", l.Len(), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package index_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// FuzzLoad feeds arbitrary bytes to both loaders. Load must return an
// error or an index that searches, saves and reloads without panicking.
// Each input is also tried with its last four bytes replaced by a valid
// checksum, so the fuzzer reaches the structural checks behind the CRC.
func FuzzLoad(f *testing.F) {
	const dims = 4
	data := indextest.Clustered(40, dims, 23)
	for _, im := range impls {
		idx := im.new(dims)
		fill(f, idx, data, 0)
		idx.Delete(3)
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		var empty bytes.Buffer
		if err := im.new(dims).Save(&empty); err != nil {
			f.Fatal(err)
		}
		f.Add(empty.Bytes())
		if h, ok := idx.(*index.HNSW); ok {
			var aligned bytes.Buffer
			if err := h.SaveAligned(&aligned); err != nil {
				f.Fatal(err)
			}
			f.Add(aligned.Bytes())
		}
	}
	f.Add([]byte("SSIXHNSW\x01\x00\x00\x00\x04\x00\x00\x00\xff\xff\xff\xff"))
	f.Add([]byte("SSIXFLAT\x01\x00\x00\x00\x04\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		inputs := [][]byte{in}
		if len(in) >= 4 {
			body := in[:len(in)-4]
			sum := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
			inputs = append(inputs, binary.LittleEndian.AppendUint32(bytes.Clone(body), sum))
		}
		for _, im := range impls {
			for _, in := range inputs {
				loadAndUse(t, im.name, im.new, in, data)
				sameFromLender(t, im.name, im.new, in)
			}
		}
		for _, in := range inputs {
			sameInPlace(t, in, data)
		}
	})
}

// sameInPlace loads in as HNSW.Load does and in place, as LoadFile does
// from a map: both must accept it or both refuse it, with the same error,
// and one loaded in place must search and take an insert.
func sameInPlace(t *testing.T, in []byte, data [][]float32) {
	t.Helper()
	const dims = 4
	plain := index.NewHNSW(dims, nil).Load(bytes.NewReader(in))
	h := index.NewHNSW(dims, nil)
	mem := bytes.Clone(in) // an insert may write into it
	inPlace := index.LoadInPlace(h, mem)
	if (plain == nil) != (inPlace == nil) || (plain != nil && plain.Error() != inPlace.Error()) {
		t.Fatalf("from a reader: %v; in place: %v", plain, inPlace)
	}
	if inPlace != nil {
		return
	}
	if _, err := h.Search(data[0], 5, 0); err != nil {
		t.Fatalf("search after an in-place load: %v", err)
	}
	if err := h.Add(999, data[5]); err != nil {
		t.Fatalf("add after an in-place load: %v", err)
	}
}

func loadAndUse(t *testing.T, name string, newIndex func(int) index.Index, in []byte, data [][]float32) {
	t.Helper()
	const dims = 4
	idx := newIndex(dims)
	if err := idx.Load(bytes.NewReader(in)); err != nil {
		return
	}
	for _, q := range data[:3] {
		if _, err := idx.Search(q, 5, 0); err != nil {
			t.Fatalf("%s: search after load: %v", name, err)
		}
	}
	var out bytes.Buffer
	if err := idx.Save(&out); err != nil {
		t.Fatalf("%s: save after load: %v", name, err)
	}
	if err := newIndex(dims).Load(&out); err != nil {
		t.Fatalf("%s: reload of a loaded index: %v", name, err)
	}
	if err := idx.Add(999, data[5]); err != nil {
		t.Fatalf("%s: add after load: %v", name, err)
	}
}

// sameFromLender loads in from a bytes.Reader and from a reader that lends
// it in uneven pieces: both must accept it or both refuse it, with the same
// error.
func sameFromLender(t *testing.T, name string, newIndex func(int) index.Index, in []byte) {
	t.Helper()
	const dims = 4
	plain := newIndex(dims).Load(bytes.NewReader(in))
	l := &lendingReader{t: t, b: in, rng: rand.New(rand.NewPCG(uint64(len(in)), 9)), max: 13}
	lent := newIndex(dims).Load(l)
	if (plain == nil) != (lent == nil) || (plain != nil && plain.Error() != lent.Error()) {
		t.Fatalf("%s: from a bytes.Reader: %v; lent in pieces: %v", name, plain, lent)
	}
}

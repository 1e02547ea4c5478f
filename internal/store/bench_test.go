package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkPut stores 512-d records in batches of 1,000, as indexing does.
func BenchmarkPut(b *testing.B) {
	const batch, dims = 1000, 512
	db := openTest(b, nil)
	recs := testRecords(0, batch, dims)
	b.SetBytes(batch * dims * 4)
	b.ResetTimer()
	for n := range b.N {
		for i := range recs {
			recs[i].Item.Path = fmt.Sprintf("/photos/%d/%d.jpg", n, i)
		}
		mustPut(b, db, recs)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkForEachVector reads 10,000 512-d vectors, as loading the index
// from scratch does.
func BenchmarkForEachVector(b *testing.B) {
	const count, dims = 10_000, 512
	db := openTest(b, nil)
	for i := 0; i < count; i += 1000 {
		mustPut(b, db, testRecords(i, 1000, dims))
	}
	b.SetBytes(count * dims * 4)
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := db.ForEachVector(func(uint64, []float32) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != count {
			b.Fatalf("saw %d vectors, want %d", n, count)
		}
	}
	b.ReportMetric(float64(b.N*count)/b.Elapsed().Seconds(), "vectors/s")
}

// BenchmarkOpen opens and closes a database of 10,000 items read-write,
// model check included.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 512}
	db, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10_000; i += 1000 {
		mustPut(b, db, testRecords(i, 1000, 512))
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		b.Run(fmt.Sprintf("readonly=%t", ro), func(b *testing.B) {
			o := *opts
			o.ReadOnly = ro
			for range b.N {
				db, err := Open(path, &o)
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBytesPerItem measures the file size per item for 10,000 512-d
// items at each page size; its figures are those quoted at pageSize.
func BenchmarkBytesPerItem(b *testing.B) {
	const count, dims = 10_000, 512
	for _, ps := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("page=%dKiB", ps>>10), func(b *testing.B) {
			var size, used int64
			for range b.N {
				path := filepath.Join(b.TempDir(), "simsearch.db")
				db, err := Open(path, &Options{pageSize: ps})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < count; i += 1000 {
					mustPut(b, db, testRecords(i, 1000, dims))
				}
				if err := db.view(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				fi, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				size = fi.Size()
			}
			// used: pages up to the high-water mark, which is also what the
			// sparse file occupies on disk; file: its length, which bbolt
			// grows ahead in steps.
			b.ReportMetric(float64(used)/count, "used-bytes/item")
			b.ReportMetric(float64(size)/count, "file-bytes/item")
		})
	}
}

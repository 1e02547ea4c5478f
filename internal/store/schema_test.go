package store

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database from before the capture time (schema 1, codec 1 records)
// opens and reads as it is; a writer raises its schema version, so that
// older binaries refuse it once newer records may be in it, instead of
// taking them for damage.
func TestOpen_UpgradesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 8}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := db.Put(testRecords(1, 2, 8))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	old := testItem(1)
	old.Taken = 0
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := putUint(tx.Bucket(bucketMeta), keySchema, 1); err != nil {
			return err
		}
		return tx.Bucket(bucketItems).Put(idKey(ids[0]), appendItemCodec1(old))
	})

	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := ro.Meta(); m.SchemaVersion != 1 {
		t.Errorf("read-only open: schema version %d, want 1 left as it was", m.SchemaVersion)
	}
	ro.Close()

	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m, _ := db.Meta(); m.SchemaVersion != SchemaVersion {
		t.Errorf("writable open: schema version %d, want %d", m.SchemaVersion, SchemaVersion)
	}
	got, ok, err := db.Item(ids[0])
	old.ID = ids[0]
	if err != nil || !ok || got != old {
		t.Errorf("codec 1 item: %+v, %t, %v; want %+v", got, ok, err, old)
	}
	want := testItem(2)
	want.ID = ids[1]
	if got, _, _ := db.Item(ids[1]); got != want || got.Taken == 0 {
		t.Errorf("codec 2 item: %+v, want %+v with its capture time", got, want)
	}
	if problems, err := db.Check(nil); err != nil || len(problems) > 0 {
		t.Errorf("Check after the upgrade: %q, %v", problems, err)
	}
}

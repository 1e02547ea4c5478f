package store

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database from before the capture time (schema 1, codec 1 records),
// from before labels (schema 2, codec 2) or from before the camera
// (schema 3, codec 3), opens and reads as it is; a
// writer raises its schema version, so that older binaries refuse it once
// newer records may be in it, instead of taking them for damage.
func TestOpen_UpgradesOldSchemas(t *testing.T) {
	for _, schema := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("schema ", schema), func(t *testing.T) { testUpgrade(t, schema) })
	}
}

func testUpgrade(t *testing.T, schema uint64) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	opts := &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 8}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := db.Put(testRecords(1, 5, 8))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	old := testItem(1)
	old.Taken, old.Labels = 0, nil
	codec2 := testItem(2)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := putUint(tx.Bucket(bucketMeta), keySchema, schema); err != nil {
			return err
		}
		if err := tx.Bucket(bucketItems).Put(idKey(ids[0]), appendItemCodec1(old)); err != nil {
			return err
		}
		if schema == 1 {
			return nil
		}
		if err := tx.Bucket(bucketItems).Put(idKey(ids[1]), appendItemCodec2(codec2)); err != nil {
			return err
		}
		if schema == 2 {
			return nil
		}
		return tx.Bucket(bucketItems).Put(idKey(ids[4]), appendItemCodec3(testItem(5)))
	})

	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := ro.Meta(); m.SchemaVersion != int(schema) {
		t.Errorf("read-only open: schema version %d, want %d left as it was", m.SchemaVersion, schema)
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
	old.ID, old.captureUnread = ids[0], true
	if err != nil || !ok || !reflect.DeepEqual(got, old) {
		t.Errorf("codec 1 item: %+v, %t, %v; want %+v", got, ok, err, old)
	}
	codec2.ID, codec2.captureUnread = ids[1], schema >= 2 // schema 1 left it as Put wrote it
	if got, _, _ := db.Item(ids[1]); !reflect.DeepEqual(got, codec2) || got.Taken == 0 {
		t.Errorf("codec 2 item: %+v, want %+v with its capture time", got, codec2)
	}
	want := withID(testItem(3), ids[2])
	if got, _, _ := db.Item(ids[2]); !reflect.DeepEqual(got, want) || len(got.Labels) != 2 {
		t.Errorf("codec 3 item: %+v, want %+v with its labels", got, want)
	}
	// Item 5 has a camera and its capture time as written: lost in a
	// codec 3 record (which never had them), kept in codec 4.
	want = withID(testItem(5), ids[4])
	if schema == 3 {
		want.TakenAt, want.Make, want.Model = "", "", ""
		want.captureUnread = true
	}
	if got, _, _ := db.Item(ids[4]); !reflect.DeepEqual(got, want) || got.Taken == 0 {
		t.Errorf("item 5 under schema %d: %+v, want %+v", schema, got, want)
	}
	if problems, err := db.Check(nil); err != nil || len(problems) > 0 {
		t.Errorf("Check after the upgrade: %q, %v", problems, err)
	}
}

package store

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Every one but snapshot exists from the first read-write
// Open on.
var (
	bucketItems    = []byte("items")    // id → encoded Item
	bucketVectors  = []byte("vectors")  // id → raw little-endian float32s
	bucketPaths    = []byte("paths")    // path → id
	bucketMeta     = []byte("meta")     // key → value, see meta keys
	bucketFailures = []byte("failures") // path → encoded failure
	bucketSnapshot = []byte("snapshot") // index snapshot, see snapshot.go
)

// Keys in the meta bucket.
var (
	keySchema       = []byte("schema_version") // uint64
	keyFingerprint  = []byte("fingerprint")    // string
	keyModelName    = []byte("model_name")     // string
	keyDims         = []byte("dims")           // uint64
	keyItemsVersion = []byte("items_version")  // uint64
)

// Meta describes a database: its layout, the model its vectors came from
// and how far its contents and index snapshot have got.
type Meta struct {
	SchemaVersion int
	Fingerprint   string
	ModelName     string
	Dims          int // 0 until the first vector is stored
	// ItemsVersion counts the committed Put and Delete calls that changed
	// something; an index snapshot taken at another version is stale.
	ItemsVersion uint64
	// HasIndex says whether an index snapshot is stored; IndexVersion is
	// the ItemsVersion it was taken at.
	HasIndex     bool
	IndexVersion uint64
}

// Meta returns the database's description.
func (db *DB) Meta() (Meta, error) {
	var m Meta
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		m, err = readMeta(tx)
		return err
	})
	if err != nil {
		return Meta{}, fmt.Errorf("read meta: %w", err)
	}
	return m, nil
}

func readMeta(tx *bolt.Tx) (Meta, error) {
	var m Meta
	mb := tx.Bucket(bucketMeta)
	if mb == nil {
		return m, nil // never initialised: an empty database
	}
	m.SchemaVersion = int(getUint(mb, keySchema))
	m.Fingerprint = string(mb.Get(keyFingerprint))
	m.ModelName = string(mb.Get(keyModelName))
	m.Dims = int(getUint(mb, keyDims))
	m.ItemsVersion = getUint(mb, keyItemsVersion)
	info, ok, err := readSnapshotInfo(tx)
	if err != nil {
		return m, err
	}
	m.HasIndex, m.IndexVersion = ok, info.version
	return m, nil
}

// setUp creates the buckets of a new database, then checks the schema
// version and the model against o, recording the model the first time.
func (db *DB) setUp(o *Options) error {
	if db.readOnly {
		return db.view(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketMeta) == nil {
				return checkForeign(tx)
			}
			return checkModel(tx, o, false)
		})
	}
	return db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			if err := checkForeign(tx); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketItems, bucketVectors, bucketPaths, bucketMeta, bucketFailures} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := checkModel(tx, o, true); err != nil {
			return err
		}
		// An older database is read as it is, but what is written from now
		// on is this version's: older binaries must refuse it from here on
		// rather than take new records for damage.
		mb := tx.Bucket(bucketMeta)
		if getUint(mb, keySchema) < SchemaVersion {
			return putUint(mb, keySchema, SchemaVersion)
		}
		return nil
	})
}

// checkForeign refuses a bbolt file that some other program wrote: it has
// buckets but none of ours.
func checkForeign(tx *bolt.Tx) error {
	var names []string
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, fmt.Sprintf("%q", name))
		return nil
	})
	if len(names) > 0 {
		return fmt.Errorf("%w: not a simsearch database (it holds buckets %s and no %q)",
			ErrCorrupt, strings.Join(names, ", "), bucketMeta)
	}
	return nil
}

func checkModel(tx *bolt.Tx, o *Options, record bool) error {
	mb := tx.Bucket(bucketMeta)
	if v := getUint(mb, keySchema); v > SchemaVersion {
		return fmt.Errorf("%w: schema version %d, this simsearch reads up to %d", ErrSchemaTooNew, v, SchemaVersion)
	}
	have := ModelRecord{Fingerprint: string(mb.Get(keyFingerprint)), Name: string(mb.Get(keyModelName)), Dims: int(getUint(mb, keyDims))}
	setModel, setDims, err := CheckModel(have, ModelRecord{Fingerprint: o.Fingerprint, Name: o.ModelName, Dims: o.Dims},
		func() (int, error) { return tx.Bucket(bucketItems).Stats().KeyN, nil })
	if err != nil || !record {
		return err
	}
	if setModel {
		if err := mb.Put(keyFingerprint, []byte(o.Fingerprint)); err != nil {
			return err
		}
		if err := mb.Put(keyModelName, []byte(o.ModelName)); err != nil {
			return err
		}
	}
	if setDims {
		return putUint(mb, keyDims, uint64(o.Dims))
	}
	return nil
}

// ModelRecord is the model a database records: its fingerprint, name
// and vector dimensions ("" and 0 before the first read-write open with
// a model).
type ModelRecord struct {
	Fingerprint string
	Name        string
	Dims        int
}

// CheckModel is the model check of every backend's Open: a database that
// records another fingerprint or other dimensions than want (an empty
// fingerprint and 0 dimensions accept any) is refused with an error
// wrapping ErrModelMismatch, and so is one that records no fingerprint
// but holds items (items counts them; it is called only then). Otherwise
// it says what a read-write open records: want's fingerprint and name
// (setModel) and its dimensions (setDims), which the database lacks.
func CheckModel(have, want ModelRecord, items func() (int, error)) (setModel, setDims bool, err error) {
	if want.Fingerprint != "" && have.Fingerprint != want.Fingerprint {
		if have.Fingerprint != "" {
			return false, false, fmt.Errorf("%w: it holds vectors of %s (%s), not %s (%s)", ErrModelMismatch,
				nameOr(have.Name), shortFP(have.Fingerprint), nameOr(want.Name), shortFP(want.Fingerprint))
		}
		n, err := items()
		if err != nil {
			return false, false, err
		}
		if n > 0 {
			return false, false, fmt.Errorf("%w: it holds %d vectors of an unrecorded model, not %s (%s)", ErrModelMismatch,
				n, nameOr(want.Name), shortFP(want.Fingerprint))
		}
		setModel = true
	}
	if want.Dims != 0 && have.Dims != want.Dims {
		if have.Dims != 0 {
			return false, false, fmt.Errorf("%w: it holds %d-dimensional vectors of %s, not %d-dimensional ones of %s",
				ErrModelMismatch, have.Dims, nameOr(have.Name), want.Dims, nameOr(want.Name))
		}
		setDims = true
	}
	return setModel, setDims, nil
}

func nameOr(name string) string {
	if name == "" {
		return "an unnamed model"
	}
	return name
}

// shortFP is the form of a fingerprint shown to people, as git shortens
// commit ids.
func shortFP(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, key []byte, v uint64) error {
	return b.Put(key, binary.BigEndian.AppendUint64(nil, v))
}

// idKey is the key of item id: big-endian, so keys sort by id and new
// items append at the end of the bucket.
func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

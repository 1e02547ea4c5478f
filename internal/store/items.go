package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Item is what the database knows about one image file.
type Item struct {
	ID      uint64 `json:"id"` // assigned by Put; ignored on input
	Path    string `json:"path"`
	Size    int64  `json:"size"`     // bytes
	ModTime int64  `json:"mtime_ns"` // unix nanoseconds
	Hash    Hash   `json:"sha256"`   // SHA-256 of the file's content
	Width   int    `json:"width"`    // pixels, after EXIF orientation
	Height  int    `json:"height"`
	Format  string `json:"format"` // "jpeg", "png", ...
	State   State  `json:"state"`
	// Taken is when the photo was taken (EXIF DateTimeOriginal), unix
	// nanoseconds; 0 when unknown, and for items indexed before it was
	// recorded.
	Taken int64 `json:"taken_ns,omitempty"`
	// TakenAt is the same capture time as EXIF wrote it, in RFC 3339:
	// with its offset when the photo has one (OffsetTimeOriginal), and
	// without a zone ("2019-05-02T10:11:12", the camera's wall clock,
	// zone unknown) when it has none; "" when unknown, and for items
	// indexed before it was recorded (item codec 4), even when they have
	// a Taken.
	TakenAt string `json:"taken"`
	Make    string `json:"camera_make"`  // EXIF Make, "" when unknown
	Model   string `json:"camera_model"` // EXIF Model, "" when unknown
	// Labels are what classifiers said the image shows, one set per
	// source (see LabelSet); none for items indexed without a classifier
	// or before labels were recorded.
	Labels []LabelSet `json:"labels,omitempty"`

	// captureUnread marks a record of a codec before 4, written before
	// TakenAt, Make and Model were: see CaptureUnread.
	captureUnread bool
}

// CaptureUnread reports whether the item was stored before its capture
// metadata was (item codec 4): its TakenAt, Make and Model are then not
// known to be absent from the photo, only never read. Storing the item
// again records them, read or not, and clears the mark.
func (it Item) CaptureUnread() bool { return it.captureUnread }

// LabelSet is one classifier's most probable classes for an item, best
// first. Source names the classifier: the model's class list (Spec.Labels,
// "imagenet") or a trained head ("head"); an item has at most one set per
// source.
type LabelSet struct {
	Source string  `json:"source"`
	Top    []Label `json:"top"`
}

// Label is one class with its probability.
type Label struct {
	ID   string  `json:"id"`   // WordNet id, or a head's class id
	Name string  `json:"name"` // the class's name
	Prob float32 `json:"prob"`
}

// Set returns the label set of source, if the item has one.
func (it *Item) Set(source string) (LabelSet, bool) {
	for _, s := range it.Labels {
		if s.Source == source {
			return s, true
		}
	}
	return LabelSet{}, false
}

// validTakenAt reports whether s is an Item.TakenAt: RFC 3339 with an
// offset, or without one (the layout the extractor writes for a capture
// time whose zone is unknown).
func validTakenAt(s string) bool {
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return true
	}
	_, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	return err == nil
}

// Hash is a SHA-256; in JSON and text it is lower-case hex.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("sha256 of %d hex digits, want %d", len(b), 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// State says where an item stands. It is stored with the item, so new
// states need no schema change; readers keep states they do not know.
type State uint8

const (
	// StateIndexed is an item whose vector is stored and searchable.
	StateIndexed State = iota
	// StateMissing is an item whose file was not found on the last walk;
	// it is kept (for reports and undo) until deleted.
	StateMissing
)

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "indexed":
		*s = StateIndexed
	case "missing":
		*s = StateMissing
	default:
		var n uint8
		if _, err := fmt.Sscanf(string(b), "state(%d)", &n); err != nil {
			return fmt.Errorf("unknown item state %q", b)
		}
		*s = State(n)
	}
	return nil
}

func (s State) String() string {
	switch s {
	case StateIndexed:
		return "indexed"
	case StateMissing:
		return "missing"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Record is an item with its vector, as Put stores them.
type Record struct {
	Item   Item
	Vector []float32
}

// readBatch is how many records ForEachItem and ForEachVector read per
// transaction before handing them to the callback.
const readBatch = 1024

// Put stores recs in one transaction: all or none. A path not yet stored
// gets a new ID; a stored path keeps its ID and its item and vector are
// replaced. It returns the IDs in the order of recs. Every vector must
// have the database's dimensions (the first Put into an empty database
// sets them) or Put fails with ErrDims. A stored failure for a path is
// cleared, since the file was read after all.
func (db *DB) Put(recs []Record) ([]uint64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	for i := range recs {
		if err := validate(&recs[i]); err != nil {
			return nil, fmt.Errorf("put %q: %w", recs[i].Item.Path, err)
		}
	}
	ids := make([]uint64, len(recs))
	err := db.update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		dims := int(getUint(mb, keyDims))
		if dims == 0 {
			dims = len(recs[0].Vector)
			if err := putUint(mb, keyDims, uint64(dims)); err != nil {
				return err
			}
		}
		items, vectors := tx.Bucket(bucketItems), tx.Bucket(bucketVectors)
		paths, failures := tx.Bucket(bucketPaths), tx.Bucket(bucketFailures)
		// IDs only grow, so new records append: fill pages to the brim.
		items.FillPercent, vectors.FillPercent = 1.0, 1.0
		// bbolt keeps the slices given to Put until the commit, so encode
		// into arenas that are never overwritten, only outgrown.
		vecArena := make([]byte, 0, len(recs)*dims*4)
		var itemArena []byte
		for i := range recs {
			r := &recs[i]
			if len(r.Vector) != dims {
				return fmt.Errorf("%q: %w: %d, the database holds %d", r.Item.Path, ErrDims, len(r.Vector), dims)
			}
			var id uint64
			if v := paths.Get([]byte(r.Item.Path)); len(v) == 8 {
				id = binary.BigEndian.Uint64(v)
			} else {
				var err error
				if id, err = items.NextSequence(); err != nil {
					return err
				}
				if err := paths.Put([]byte(r.Item.Path), idKey(id)); err != nil {
					return err
				}
			}
			ids[i] = id
			key := idKey(id)
			start := len(itemArena)
			itemArena = appendItem(itemArena, r.Item)
			if err := items.Put(key, itemArena[start:len(itemArena):len(itemArena)]); err != nil {
				return err
			}
			start = len(vecArena)
			vecArena = appendVector(vecArena, r.Vector)
			if err := vectors.Put(key, vecArena[start:]); err != nil {
				return err
			}
			if err := failures.Delete([]byte(r.Item.Path)); err != nil {
				return err
			}
		}
		return bumpVersion(mb)
	})
	if err != nil {
		return nil, fmt.Errorf("put %d records: %w", len(recs), err)
	}
	return ids, nil
}

func validate(r *Record) error {
	switch {
	case r.Item.Path == "":
		return errors.New("empty path")
	case len(r.Vector) == 0:
		return fmt.Errorf("%w: no vector", ErrDims)
	case r.Item.Width < 0 || r.Item.Width > math.MaxInt32 || r.Item.Height < 0 || r.Item.Height > math.MaxInt32:
		return fmt.Errorf("image size %dx%d out of range", r.Item.Width, r.Item.Height)
	}
	return nil
}

func bumpVersion(mb *bolt.Bucket) error {
	return putUint(mb, keyItemsVersion, getUint(mb, keyItemsVersion)+1)
}

// Delete removes the items with the given IDs, their vectors and their
// path entries, in one transaction. Unknown IDs are skipped.
func (db *DB) Delete(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.update(func(tx *bolt.Tx) error {
		changed := false
		for _, id := range ids {
			ok, err := deleteID(tx, id)
			if err != nil {
				return err
			}
			changed = changed || ok
		}
		if !changed {
			return nil
		}
		return bumpVersion(tx.Bucket(bucketMeta))
	})
	if err != nil {
		return fmt.Errorf("delete %d items: %w", len(ids), err)
	}
	return nil
}

// deleteID removes item id, its vector and its path entry (if it points
// to id), reporting whether anything was there.
func deleteID(tx *bolt.Tx, id uint64) (bool, error) {
	key := idKey(id)
	items, vectors := tx.Bucket(bucketItems), tx.Bucket(bucketVectors)
	found := vectors.Get(key) != nil
	if v := items.Get(key); v != nil {
		found = true
		// A record that does not decode still goes; its path entry then
		// stays behind for Check to report.
		if it, err := decodeItem(v); err == nil {
			pb := tx.Bucket(bucketPaths)
			if p := pb.Get([]byte(it.Path)); bytes.Equal(p, key) {
				if err := pb.Delete([]byte(it.Path)); err != nil {
					return false, err
				}
			}
		}
	}
	if !found {
		return false, nil
	}
	if err := items.Delete(key); err != nil {
		return false, err
	}
	return true, vectors.Delete(key)
}

// Item returns the item with the given ID, and false if there is none.
func (db *DB) Item(id uint64) (Item, bool, error) {
	var it Item
	var ok bool
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		it, ok, err = getItem(tx, id)
		return err
	})
	if err != nil {
		return Item{}, false, fmt.Errorf("read item %d: %w", id, err)
	}
	return it, ok, nil
}

// ItemByPath returns the item stored under path, and false if there is
// none.
func (db *DB) ItemByPath(path string) (Item, bool, error) {
	var it Item
	var ok bool
	err := db.view(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bucketPaths)
		if pb == nil {
			return nil
		}
		v := pb.Get([]byte(path))
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: path maps to a %d-byte id", ErrCorrupt, len(v))
		}
		var err error
		it, ok, err = getItem(tx, binary.BigEndian.Uint64(v))
		return err
	})
	if err != nil {
		return Item{}, false, fmt.Errorf("read item %q: %w", path, err)
	}
	return it, ok, nil
}

func getItem(tx *bolt.Tx, id uint64) (Item, bool, error) {
	b := tx.Bucket(bucketItems)
	if b == nil {
		return Item{}, false, nil
	}
	v := b.Get(idKey(id))
	if v == nil {
		return Item{}, false, nil
	}
	it, err := decodeItem(v)
	if err != nil {
		return Item{}, false, fmt.Errorf("%w: item %d: %w", ErrCorrupt, id, err)
	}
	it.ID = id
	return it, true, nil
}

// Vector returns the vector of item id, or an error wrapping ErrNotFound.
func (db *DB) Vector(id uint64) ([]float32, error) {
	var vec []float32
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVectors)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(idKey(id))
		if v == nil {
			return ErrNotFound
		}
		if len(v)%4 != 0 {
			return fmt.Errorf("%w: vector is %d bytes long", ErrCorrupt, len(v))
		}
		vec = make([]float32, len(v)/4)
		decodeVector(vec, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read vector %d: %w", id, err)
	}
	return vec, nil
}

// Len returns the number of items.
func (db *DB) Len() (int, error) {
	var n int
	err := db.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketItems); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count items: %w", err)
	}
	return n, nil
}

// itemAt decodes the item stored under key k with value v.
func itemAt(k, v []byte) (Item, error) {
	if len(k) != 8 {
		return Item{}, fmt.Errorf("%w: item key %x is not an id", ErrCorrupt, k)
	}
	it, err := decodeItem(v)
	if err != nil {
		return Item{}, fmt.Errorf("%w: item %x: %w", ErrCorrupt, k, err)
	}
	it.ID = binary.BigEndian.Uint64(k)
	return it, nil
}

// ForEachItem calls fn for every item in ascending ID order, stopping at
// and returning fn's first error. Items are read in batches of short
// transactions and fn runs outside them, so fn may write to the database;
// an item written meanwhile may or may not be seen, and none twice.
func (db *DB) ForEachItem(fn func(Item) error) error {
	batch := make([]Item, 0, readBatch)
	var after []byte // key to continue after; nil starts at the beginning
	for {
		batch = batch[:0]
		err := db.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketItems)
			if b == nil {
				return nil
			}
			return scan(b, after, func(k, v []byte) error {
				it, err := itemAt(k, v)
				if err != nil {
					return err
				}
				batch = append(batch, it)
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("read items: %w", err)
		}
		for _, it := range batch {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(batch) < readBatch {
			return nil
		}
		after = idKey(batch[len(batch)-1].ID)
	}
}

// ForEachVector calls fn for every vector in ascending ID order, as
// ForEachItem does for items. Each v is fn's to keep.
func (db *DB) ForEachVector(fn func(id uint64, v []float32) error) error {
	type entry struct {
		id  uint64
		vec []float32
	}
	batch := make([]entry, 0, readBatch)
	var after []byte
	for {
		batch = batch[:0]
		err := db.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketVectors)
			if b == nil {
				return nil
			}
			// A vector of other dimensions than the database's was damaged
			// on disk; the index it is for would refuse it.
			dims := int(getUint(tx.Bucket(bucketMeta), keyDims))
			// One allocation per batch; each vector gets a capped slice of it.
			var slab []float32
			return scan(b, after, func(k, v []byte) error {
				if len(k) != 8 || len(v)%4 != 0 || dims > 0 && len(v) != 4*dims {
					return fmt.Errorf("%w: vector %x is %d bytes long", ErrCorrupt, k, len(v))
				}
				n := len(v) / 4
				if len(slab) < n {
					slab = make([]float32, n*readBatch)
				}
				vec := slab[:n:n]
				slab = slab[n:]
				decodeVector(vec, v)
				batch = append(batch, entry{binary.BigEndian.Uint64(k), vec})
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("read vectors: %w", err)
		}
		for _, e := range batch {
			if err := fn(e.id, e.vec); err != nil {
				return err
			}
		}
		if len(batch) < readBatch {
			return nil
		}
		after = idKey(batch[len(batch)-1].id)
	}
}

// scan calls fn for up to readBatch pairs of b whose keys follow after.
func scan(b *bolt.Bucket, after []byte, fn func(k, v []byte) error) error {
	c := b.Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek(after)
		if bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	for n := 0; k != nil && n < readBatch; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
		n++
	}
	return nil
}

// SetLabels gives each item in sets the label set sets[id], replacing the
// set of the same source it has (its other sets stay), in one
// transaction. Vectors are untouched, so the items version (and an index
// snapshot) stays current. Unknown IDs are skipped; it returns how many
// items were changed. A head's classes reach photos indexed before the
// head existed this way, without embedding them again.
func (db *DB) SetLabels(sets map[uint64]LabelSet) (int, error) {
	if len(sets) == 0 {
		return 0, nil
	}
	n := 0
	err := db.update(func(tx *bolt.Tx) error {
		items := tx.Bucket(bucketItems)
		var arena []byte
		for id, s := range sets {
			key := idKey(id)
			v := items.Get(key)
			if v == nil {
				continue
			}
			it, err := decodeItem(v)
			if err != nil {
				return fmt.Errorf("%w: item %d: %w", ErrCorrupt, id, err)
			}
			replaced := false
			for i := range it.Labels {
				if it.Labels[i].Source == s.Source {
					it.Labels[i], replaced = s, true
				}
			}
			if !replaced {
				it.Labels = append(it.Labels, s)
			}
			// bbolt keeps the value until the commit: never reuse it.
			start := len(arena)
			arena = appendItem(arena, it)
			if err := items.Put(key, arena[start:len(arena):len(arena)]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("set labels of %d items: %w", len(sets), err)
	}
	return n, nil
}

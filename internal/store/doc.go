// Package store keeps simsearch's data in one bbolt file: the items (one
// per image file: path, size, modification time, content hash, image
// size, format, state, capture time, camera, the classes classifiers gave it),
// their vectors, a path index, the model the vectors
// came from, the files that could not be indexed, and a snapshot of the
// search index.
//
// Layout, one bucket each:
//
//	items     big-endian uint64 id → Item, a compact versioned binary record
//	vectors   the same id → the vector as raw little-endian float32s
//	paths     path → id
//	meta      schema version, model fingerprint and name, dimensions,
//	          items version, the snapshot's items version
//	failures  path → reason and time
//	decisions big-endian uint64 id → a dedup decision: its kind, time and
//	          the content hashes (and paths then) of the files it names;
//	          made by the first AddDecision
//	snapshot  the index snapshot in chunks of at most 1 MiB, with the items
//	          version it was taken at
//
// IDs come from a sequence and only grow, so inserts append and pages are
// filled completely. Vectors have their own bucket and no header so that
// seven 512-d vectors fill a 16 KiB page (see pageSize for the measured
// choice). Every Put and Delete commit increments the items version, so a
// snapshot taken at an older version is known to be stale.
//
// Room to grow: buckets that older binaries can ignore are added without a
// schema change; changing the encoding of an existing bucket bumps
// SchemaVersion, and Open then refuses the file in older binaries with
// ErrSchemaTooNew.
//
// The main type is DB, from Open; the engine uses it through its storage
// interface (the root package's storage.go), which other backends
// implement too. Writes take a batch (hundreds to
// thousands of records) and commit it in one transaction, which survives a
// crash once Put returns. Reads copy their data out of the memory map.
// Damaged files give errors wrapping ErrCorrupt, never panics. Check
// finds damage and says what mends each problem (ProblemKind):
// RepairInPlace drops bad records with their items, SalvageInPlace copies
// the sound items of a file whose pages are damaged into a new one.
//
// Example:
//
//	db, err := store.Open(path, &store.Options{
//		Fingerprint: fp, ModelName: "vgg16", Dims: 512,
//	})
//	if err != nil {
//		return err // store.ErrLocked, store.ErrModelMismatch, ...
//	}
//	defer db.Close()
//	ids, err := db.Put([]store.Record{{Item: item, Vector: vec}})
//	...
//	err = db.ForEachVector(func(id uint64, v []float32) error {
//		return idx.Add(id, v)
//	})
package store

// Package pgstore keeps a simsearch database in PostgreSQL with the
// pgvector extension: the same items, vectors, failures, dedup decisions,
// model fingerprint and index snapshot as internal/store's bbolt file, in
// tables of the schema "simsearch" of the database a DSN names, so that
// several machines can index into one database and query it.
//
// The main type is DB, opened with Open:
//
//	db, err := pgstore.Open("postgres://simsearch@db.example/photos", &pgstore.Options{
//		Fingerprint: fp, ModelName: "vgg16/rmac", Dims: 512,
//	})
//	ids, err := db.Put(records)
//
// Its methods are those of *store.DB, with the types of internal/store, so
// the engine uses either through one interface. What differs:
//
//   - Tables and migrations. Open applies the migrations a database lacks
//     (under an advisory lock, so two processes opening a new database do
//     not both create it) and refuses a schema newer than SchemaVersion
//     with store.ErrSchemaTooNew. The path index is the unique index on
//     items.path; label sets are a jsonb column of the item, read and
//     replaced with it as the bbolt item codec does; paths and camera
//     names are bytea, since a file name need not be UTF-8.
//   - Vectors are a pgvector column with an HNSW index on their
//     half-precision copies ((v::halfvec(D)) halfvec_cosine_ops, m 16,
//     ef_construction 64; schema 3, half the size of one on the vectors
//     at equal recall) made when the dimensions are first known; vectors
//     are L2-normalised, so cosine order is inner-product order. Searches
//     order by the copies' distance and score with the vectors' exact
//     cosine. Neighbours answers dedup's kNN of every item on the server
//     (several connections, chunks of items), so a dedup never reads the
//     vectors out.
//     Put copies its batch into a temporary table with COPY and upserts
//     it from there in one statement.
//   - Locking. PostgreSQL lets readers and writers run at once, and every
//     Put, Delete or SaveIndex is one transaction, so there is no writer
//     lock: Release does nothing and ErrLocked never comes from here.
//     Concurrent Puts of one path leave one row (the unique index). A
//     Put raises the items version before its upsert and writes it into
//     the rows (schema 4), holding the meta row to its commit, so
//     VectorsSince sees every row up to the version Meta shows; Puts wait
//     for each other's upsert there, not for their COPY.
//   - The work queue (claims.go). Several index runs share a tree
//     through the table work: Enqueue queues files, Claim takes a batch
//     for a lease (UPDATE … FOR UPDATE SKIP LOCKED, so claims never
//     wait for each other), Renew is the heartbeat, and Put deletes the
//     rows of what it stores in its own transaction. Claims whose lease
//     ran out go to the next claimer; a file claimed MaxAttempts times
//     becomes a failure. Status reads the queue and the workers.
//   - Check verifies what a server database can get wrong through us, not
//     its pages (PostgreSQL checks those): vectors of other dimensions or
//     not of unit length, labels and decisions that do not decode, a
//     snapshot with chunks missing, a missing or invalid HNSW index.
//     RepairInPlace drops the bad records; SalvageInPlace also rebuilds
//     the HNSW index. A damaged server is restored from its backups.
package pgstore

package store

import "time"

// keepPoll is how often a kept-open database looks for a writer. A
// writer's open waits 2 s for readers (Options.Timeout), so the reader
// lets go well within it.
const keepPoll = 100 * time.Millisecond

// KeepOpen keeps a read-only database's file open across Release calls,
// sparing a long-lived reader (a server) the reopening every call costs,
// until a writer process takes the writer lock (an index run starting, or
// an engine of the same process opened for writing) or Close: a watcher
// checks every 100 ms and then lets go, and Release closes the file as
// before, between calls, while the writer runs. Nothing is stale
// meanwhile: no writer commits while the file is open here. It reports
// whether the file is kept open; false when a writer holds the lock now,
// for a read-write DB, and where there is no writer lock to watch
// (non-Unix systems). Call it again later (before each request) to keep
// the file open once the writer has gone.
func (db *DB) KeepOpen() bool {
	if !db.readOnly || !writerLockable {
		return false
	}
	db.hmu.Lock()
	kept, closed := db.kept, db.closed
	db.hmu.Unlock()
	if kept || closed {
		return kept && !closed
	}
	if writerActive(db.path) {
		return false
	}
	if _, err := db.acquire(); err != nil {
		return false // the next call says why
	}
	db.hmu.Lock()
	if db.kept { // another goroutine won
		db.hmu.Unlock()
		db.done()
		return true
	}
	db.kept = true
	db.hmu.Unlock()
	go db.watchWriter()
	return true
}

// watchWriter ends what KeepOpen began when a writer takes the lock, or
// quietly when the DB is closed.
func (db *DB) watchWriter() {
	t := time.NewTicker(keepPoll)
	defer t.Stop()
	for range t.C {
		db.hmu.Lock()
		closed := db.closed
		db.hmu.Unlock()
		if closed {
			return
		}
		if !writerActive(db.path) {
			continue
		}
		db.hmu.Lock()
		defer db.hmu.Unlock()
		if db.closed {
			return
		}
		// As done does, closing the file now or when the last call in
		// progress ends.
		db.kept = false
		db.users--
		db.releasing = db.users > 0
		if db.users == 0 {
			if err := db.bolt.Close(); err == nil {
				db.bolt = nil
			}
		}
		return
	}
}

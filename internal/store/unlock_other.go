//go:build !unix

package store

import (
	"os"
	"time"
)

// unlock is a no-op where bbolt's lock goes with the file handle.
func unlock(*os.File) {}

// lockWriter is a no-op here: bbolt's own lock keeps writers apart, and
// Release keeps the file open (canRelease).
func lockWriter(string, time.Duration) (*os.File, error) { return nil, nil }

func unlockWriter(*os.File) {}

func (db *DB) canRelease() bool { return db.readOnly }

// writerLockable says that writerActive cannot tell: there is no writer
// lock here, so KeepOpen keeps nothing open.
const writerLockable = false

func writerActive(string) bool { return true }

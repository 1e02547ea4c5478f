//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// unlock drops the flock bbolt took on f. Closing f alone would not: the
// memory map bbolt made of it keeps the open file, and so the lock, alive.
func unlock(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// lockWriter takes the writer lock of the database at path: an exclusive
// flock on path+".lock", held from Open to Close, so that a writer can
// close the database file between commits (Release) without letting a
// second writer in. It waits up to timeout, then fails with ErrLocked.
func lockWriter(path string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writer lock: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("writer lock: %w", err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unlockWriter releases what lockWriter took; nil is a no-op.
func unlockWriter(f *os.File) {
	if f != nil {
		unlock(f)
		_ = f.Close()
	}
}

// canRelease says whether Release may close the file: only with a writer
// lock that outlives it.
func (db *DB) canRelease() bool { return db.readOnly || db.writer != nil }

// writerLockable says that writerActive can tell.
const writerLockable = true

// writerActive reports whether a writer holds the writer lock of the
// database at path, by trying a shared lock on it without waiting (a
// writer that tries at the same moment retries 50 ms later).
func writerActive(path string) bool {
	f, err := os.Open(path + ".lock")
	if err != nil {
		return false // never opened for writing, or removed with its database
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

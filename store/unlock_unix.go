//go:build unix

package store

import (
	"os"
	"syscall"
)

// unlock drops the flock bbolt took on f. Closing f alone would not: the
// memory map bbolt made of it keeps the open file, and so the lock, alive.
func unlock(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

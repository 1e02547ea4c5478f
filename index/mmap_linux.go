//go:build linux

package index

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps f from its start to its end privately: pages are read from
// the page cache as they are touched, and a write (an insert rewriting a
// neighbour list) copies its page, leaving the file untouched. A file
// truncated under the mapping would fault on access (SIGBUS), so whoever
// replaces one must rename a new file over it, never write it in place.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("map %d bytes: %w", size, errNoMap)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	return b, nil
}

func unmap(b []byte) { _ = syscall.Munmap(b) }

//go:build !linux

package index

import (
	"fmt"
	"os"
)

// mapFile is not done here: LoadFile reads the file as Load reads any
// stream.
func mapFile(f *os.File, size int64) ([]byte, error) {
	return nil, fmt.Errorf("map %s: %w", f.Name(), errNoMap)
}

func unmap([]byte) {}

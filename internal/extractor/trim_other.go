//go:build cgo && !(linux && !android)

package extractor

// releaseFreedMemory does nothing where the C allocator has no trim.
func releaseFreedMemory() {}

//go:build cgo && linux && !android

package extractor

// #include <malloc.h>
import "C"

// releaseFreedMemory hands the memory the C allocator keeps from freed
// blocks back to the system (glibc's malloc_trim).
func releaseFreedMemory() { C.malloc_trim(0) }

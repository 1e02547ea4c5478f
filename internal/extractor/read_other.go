//go:build !unix

package extractor

// openNonblock is 0 where there are no FIFOs to wait on.
const openNonblock = 0

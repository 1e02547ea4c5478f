//go:build !compare

package main

func coderImpl() (annImpl, bool) {
	return annImpl{name: "coder/hnsw v0.6.1", note: "skipped: built without -tags compare"}, false
}

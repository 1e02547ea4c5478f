//go:build !unix

package simsearch

import "io/fs"

// deviceOf reports no device on platforms without st_dev: a walk with
// OneFileSystem then crosses mount points as a plain walk does.
func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }

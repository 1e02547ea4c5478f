//go:build !unix

package store

import "os"

// unlock is a no-op where bbolt's lock goes with the file handle.
func unlock(*os.File) {}

//go:build unix

package dedup

import (
	"io/fs"
	"os"
	"syscall"
)

// deviceOf is the device number of the file system holding st's file.
func deviceOf(st fs.FileInfo) (uint64, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(s.Dev), true // Dev is int32 on some systems
}

// ownedByMe reports whether st's file belongs to the current user.
func ownedByMe(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Getuid()
}

// allocated is the space st's file takes on disk, and whether removing
// this name frees it (no other hard link holds it).
func allocated(st fs.FileInfo) (bytes int64, last bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return st.Size(), true
	}
	return int64(s.Blocks) * 512, s.Nlink <= 1
}

// writable reports whether the current user may create files in dir.
func writable(dir string) bool {
	return syscall.Access(dir, 2 /* W_OK */) == nil
}

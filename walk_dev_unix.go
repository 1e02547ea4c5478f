//go:build unix

package simsearch

import (
	"io/fs"
	"syscall"
)

// deviceOf is the file system (st_dev) that info's file lives on; ok is
// false where the platform does not say.
func deviceOf(info fs.FileInfo) (dev uint64, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true // int32 on some platforms
}

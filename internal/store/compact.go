package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds one transaction of Compact's copy.
const compactTxBytes = 64 << 20

// Compact copies the database at src into a new file dst with every page
// full, which gives back the space of deleted items (bbolt files never
// shrink in place). src is opened read-only, so it may be queried
// meanwhile but not written; dst must not exist. To compact in place,
// compact to a temporary file and rename it over src.
func Compact(src, dst string) error {
	if err := compact(src, dst); err != nil {
		return fmt.Errorf("compact %s: %w", src, err)
	}
	return nil
}

func compact(src, dst string) (err error) {
	from, err := Open(src, &Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer from.Close()
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s: %w", dst, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	to, err := openBolt(dst, &bolt.Options{Timeout: defaultTimeout, PageSize: pageSize, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := to.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	return from.with(func(b *bolt.DB) error {
		return guard(func() error { return bolt.Compact(to, b, compactTxBytes) })
	})
}

// CompactInPlace compacts the database at path and puts the result in its
// place, holding the writer lock throughout (waiting up to timeout for it,
// as Open does), so no commit of another process can fall between the copy
// and the rename and be lost. Readers that have the old file open keep
// reading it; later ones open the new one. It returns the sizes before and
// after.
func CompactInPlace(path string, timeout time.Duration) (before, after int64, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("compact %s: %w", path, err)
		}
	}()
	if timeout == 0 {
		timeout = defaultTimeout
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	w, err := lockWriter(path, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer unlockWriter(w)
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	if err := compact(path, tmp); err != nil {
		return 0, 0, err
	}
	out, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return 0, 0, err
	}
	syncDir(path)
	return st.Size(), out.Size(), nil
}

// syncDir flushes the directory holding path, so that a rename into it
// survives a power cut. It is best effort: the rename itself has been done.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

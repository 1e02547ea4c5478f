package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	return guard(func() error { return bolt.Compact(to, from.bolt, compactTxBytes) })
}

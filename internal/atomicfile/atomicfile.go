// Package atomicfile writes a file so that readers see either its old
// content or its new content, never a part: the bytes go to a temporary
// file in the same folder (".NAME.tmp-RANDOM"), which is renamed over the
// file once complete. A process killed midway leaves at most a temporary
// file, which TempPattern matches so that callers can clean it up.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// TempPattern matches the base name of a temporary file that Write left
// behind when it was killed.
var TempPattern = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// Write writes the file at path (mode 0644) with what write produces,
// synced to the disk before the rename, so that after a crash path holds
// the old or the new content whole. On any error path is untouched and
// the temporary file removed.
func Write(path string, write func(io.Writer) error) error {
	return writeFile(path, write, true)
}

// WriteBytes is Write of b.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// WriteUnsynced is Write without the sync: a reader still never sees a
// part, but a machine crash may lose the new content (or leave the file
// empty). It is for files that are cheap to make again, such as a
// report's thumbnails, where a sync per file would cost more than it saves.
func WriteUnsynced(path string, write func(io.Writer) error) error {
	return writeFile(path, write, false)
}

func writeFile(path string, write func(io.Writer) error, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

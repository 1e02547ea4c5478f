package extractor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// DefaultMaxBytes is the file size limit when none is set: 1 GiB. No photo
// format decoded here needs more, and a huge file named .jpg must not
// exhaust memory.
const DefaultMaxBytes = 1 << 30

// ReadImage reads the image file at path whole, guarded for folders that
// hold more than photos. It follows a symbolic link but refuses anything
// that is not a regular file with ErrNotRegular, without opening it for
// reading: a FIFO would block until a writer comes, /dev/zero never ends.
// It reads the first bytes and, when they are no image format's (Sniff),
// returns ErrNotImage without reading on; an empty file is ErrNotImage too.
// A file over maxBytes (0 means DefaultMaxBytes) is refused with
// ErrFileTooLarge, and never more than maxBytes+1 bytes are read.
//
// The FileInfo is the open file's, taken before reading, so the size and
// time it gives are never newer than the bytes: a file rewritten meanwhile
// looks changed the next time it is compared.
//
// Errors do not repeat the path, which the caller names.
func ReadImage(path string, maxBytes int64) ([]byte, fs.FileInfo, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := checkRegular(path); err != nil {
		return nil, nil, err
	}
	return readChecked(path, maxBytes)
}

// readChecked is ReadImage after the metadata check. It judges the file it
// opened, not the path, so one swapped for a FIFO meanwhile is refused too.
func readChecked(path string, maxBytes int64) ([]byte, fs.FileInfo, error) {
	// O_NONBLOCK: if the path became a FIFO since the check, opening it
	// returns at once instead of waiting for a writer; on regular files
	// the flag changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", PlainErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("stat: %w", PlainErr(err))
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w (%s)", ErrNotRegular, FileKind(st.Mode()))
	}
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, nil, fmt.Errorf("read: %w", PlainErr(err))
	}
	switch {
	case n == 0:
		return nil, nil, fmt.Errorf("%w: empty file", ErrNotImage)
	case Sniff(head[:n]) == "":
		return nil, nil, ErrNotImage
	case st.Size() > maxBytes:
		return nil, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFileTooLarge, st.Size(), maxBytes)
	}
	// Room for the size Stat gave and one byte more, so that the read which
	// finds the end needs no larger buffer.
	b := make([]byte, n, max(int64(n), min(st.Size(), maxBytes))+1)
	copy(b, head)
	for {
		if int64(len(b)) > maxBytes {
			return nil, nil, fmt.Errorf("%w: over the limit of %d bytes", ErrFileTooLarge, maxBytes)
		}
		if len(b) == cap(b) { // the file grew since Stat
			b = append(b, 0)[:len(b)]
		}
		m, err := f.Read(b[len(b):min(int64(cap(b)), maxBytes+1)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, st, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read: %w", PlainErr(err))
		}
	}
}

// checkRegular refuses a path that is not a regular file or a symbolic
// link to one, looking only at its metadata.
func checkRegular(path string) error {
	lst, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("stat: %w", PlainErr(err))
	}
	switch {
	case lst.Mode().IsRegular():
		return nil
	case lst.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("%w (%s)", ErrNotRegular, FileKind(lst.Mode()))
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("dangling symlink")
	case err != nil:
		return fmt.Errorf("stat: %w", PlainErr(err))
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w (link to a %s)", ErrNotRegular, FileKind(st.Mode()))
	}
	return nil
}

// FileKind names a file type other than regular for people: "named pipe",
// "character device", "directory".
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular file"
}

// PlainErr drops the "op path: " of an *fs.PathError: the caller says
// which file, once.
func PlainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

//go:build unix

package extractor

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every kind of file a photo folder can hold, named like a photo: each is
// read whole or refused with its own one-line reason, and nothing that
// could block or never end is opened.
func TestReadImage(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(at(name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var pngBytes bytes.Buffer
	if err := png.Encode(&pngBytes, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	jpg, err := os.ReadFile("testdata/ycck.jpg")
	if err != nil {
		t.Fatal(err)
	}
	write("photo.jpg", jpg)
	write("png-named.jpg", pngBytes.Bytes())
	write("empty.jpg", nil)
	write("text.jpg", []byte("just words, no picture"))
	// Not an image and bigger than the limit: refused as not an image, from
	// its first bytes.
	write("big-text.jpg", bytes.Repeat([]byte("words "), 1000))
	write("big.png", append(pngBytes.Bytes(), make([]byte, 1000)...))
	if err := syscall.Mkfifo(at("fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(at("fifo.jpg"), at("fifo-link.jpg"))
	os.Symlink("/dev/zero", at("zero.jpg"))
	os.Symlink(at("photo.jpg"), at("link.jpg"))
	os.Symlink(at("gone.jpg"), at("dangling.jpg"))
	os.Mkdir(at("folder.jpg"), 0o755)
	// Unix socket paths are limited to about 100 bytes; t.TempDir may be
	// longer, so the socket gets its own short directory.
	sockDir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "s.jpg")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tests := []struct {
		name     string
		path     string
		maxBytes int64
		want     []byte // the content, when it is read
		err      error  // the sentinel, when there is one
		msg      string // what the one-line reason says
	}{
		{name: "photo", path: at("photo.jpg"), want: jpg},
		{name: "png named .jpg", path: at("png-named.jpg"), want: pngBytes.Bytes()},
		{name: "symlink to a photo", path: at("link.jpg"), want: jpg},
		{name: "exactly at the limit", path: at("photo.jpg"), maxBytes: int64(len(jpg)), want: jpg},
		{name: "one byte over the limit", path: at("photo.jpg"), maxBytes: int64(len(jpg)) - 1, err: ErrFileTooLarge,
			msg: "file too large: "},
		{name: "image over the limit", path: at("big.png"), maxBytes: 1000, err: ErrFileTooLarge, msg: "the limit is 1000"},
		{name: "text over the limit", path: at("big-text.jpg"), maxBytes: 1000, err: ErrNotImage, msg: "not an image"},
		{name: "empty", path: at("empty.jpg"), err: ErrNotImage, msg: "empty file"},
		{name: "text", path: at("text.jpg"), err: ErrNotImage, msg: "not an image"},
		{name: "fifo", path: at("fifo.jpg"), err: ErrNotRegular, msg: "not a regular file (named pipe)"},
		{name: "symlink to a fifo", path: at("fifo-link.jpg"), err: ErrNotRegular, msg: "not a regular file (link to a named pipe)"},
		{name: "symlink to /dev/zero", path: at("zero.jpg"), err: ErrNotRegular, msg: "not a regular file (link to a character device)"},
		{name: "device", path: "/dev/null", err: ErrNotRegular, msg: "not a regular file (character device)"},
		{name: "socket", path: sock, err: ErrNotRegular, msg: "not a regular file (socket)"},
		{name: "directory", path: at("folder.jpg"), err: ErrNotRegular, msg: "not a regular file (directory)"},
		{name: "dangling symlink", path: at("dangling.jpg"), msg: "dangling symlink"},
		{name: "missing", path: at("gone.jpg"), err: fs.ErrNotExist, msg: "stat: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var st fs.FileInfo
			var err error
			go func() {
				defer close(done)
				b, st, err = ReadImage(tt.path, tt.maxBytes)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("still reading after 10 s")
			}
			if tt.want != nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !bytes.Equal(b, tt.want) {
					t.Errorf("read %d bytes, want the file's %d", len(b), len(tt.want))
				}
				if st.Size() != int64(len(tt.want)) || !st.Mode().IsRegular() {
					t.Errorf("file info says %d bytes, mode %v", st.Size(), st.Mode())
				}
				return
			}
			if err == nil {
				t.Fatalf("read %d bytes, want an error saying %q", len(b), tt.msg)
			}
			if b != nil || st != nil {
				t.Errorf("an error came with %d bytes and file info %v", len(b), st)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.msg) || strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("err = %q, want one line saying %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), dir) {
				t.Errorf("err = %q repeats the path, which the caller names", err)
			}
		})
	}
}

// A path swapped for a FIFO between the metadata check and the open is
// refused by what was opened: the open does not wait for a writer.
func TestReadImage_SwappedForFIFOAfterTheCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swapped.jpg")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := readChecked(path, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || err.Error() != "not a regular file (named pipe)" {
			t.Fatalf("err = %v, want not a regular file (named pipe)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("opening the FIFO waited for a writer")
	}
}

package simsearch

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// pngHeader is a valid PNG signature and IHDR declaring w×h, with no data:
// a decompression bomb's header.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func smallPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < 64; i++ {
		img.Set(i%8, i/8, color.RGBA{uint8(i * 4), 100, 200, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A folder of broken, strange and hostile files: every good image is
// indexed, every bad one skipped with a reason, nothing hangs.
func TestEngine_HostileFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "photos")
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := os.ReadFile("testdata/photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]bool{
		"cat.jpg":                             true,
		"with space and ünïcode ✓.jpg":        true,
		"line\nbreak.jpg":                     true,
		"png-named.jpg":                       true,
		strings.Repeat("deep/", 40) + "x.png": true,
	}
	for name := range good {
		if strings.HasSuffix(name, ".png") || name == "png-named.jpg" {
			write(name, smallPNG(t))
		} else {
			write(name, cat)
		}
	}
	bad := map[string]string{
		"empty.jpg":     "empty",
		"truncated.jpg": "",
		"text.png":      "not an image",
		"random.webp":   "not an image",
		"bomb.png":      "too large",
		"zero.png":      "",
		"heic.heic":     "unsupported format heic",
	}
	write("empty.jpg", nil)
	write("truncated.jpg", cat[:len(cat)/3])
	write("text.png", []byte("hello, this is text"))
	write("random.webp", bytes.Repeat([]byte{0x5a, 0x13, 0xf0}, 100))
	write("bomb.png", pngHeader(40000, 40000))
	write("zero.png", pngHeader(0, 10))
	write("heic.heic", append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 32)...))
	write("notes.txt", []byte("not an image and not named like one: ignored"))
	// A FIFO and a symlink loop and a dangling link, named like images.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(dir, filepath.Join(dir, "loop"))
	os.Symlink(filepath.Join(dir, "gone.jpg"), filepath.Join(dir, "dangling.jpg"))
	bad["fifo.jpg"] = "not a regular file"
	bad["dangling.jpg"] = "dangling symlink"
	// An unreadable directory (root can read anything, so only as non-root).
	if os.Geteuid() != 0 {
		write("locked/a.jpg", cat)
		os.Chmod(filepath.Join(dir, "locked"), 0)
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
		bad["locked"] = "cannot read"
	}

	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	sum, err := e.Index(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != len(good) {
		t.Errorf("added %d, want %d good images", sum.Added, len(good))
	}
	reasons := map[string]string{}
	for _, f := range sum.Skipped {
		rel, _ := filepath.Rel(dir, f.Path)
		reasons[rel] = f.Reason
		if strings.Contains(f.Reason, "\n") {
			t.Errorf("%s: reason is not one line: %q", rel, f.Reason)
		}
	}
	for name, r := range reasons {
		t.Logf("skipped %q: %s", name, r)
	}
	for name, want := range bad {
		got, ok := reasons[name]
		if !ok {
			t.Errorf("%s: not reported as skipped (skipped: %v)", name, reasons)
			continue
		}
		if !strings.Contains(got, want) {
			t.Errorf("%s: reason %q, want it to mention %q", name, got, want)
		}
	}
	if len(reasons) != len(bad) {
		t.Errorf("skipped %d files, want %d: %v", len(reasons), len(bad), reasons)
	}
	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Failures) != len(bad) {
		t.Errorf("stats keeps %d skipped files, want %d", len(st.Failures), len(bad))
	}
}

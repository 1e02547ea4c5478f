package simsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/extractor/imagetest"
	"github.com/simsearch/simsearch/internal/store"
)

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
	// Odd but valid encodings.
	for name, b := range oddImages(t) {
		write(name, b)
		good[name] = true
	}
	bad := map[string]string{
		"empty.jpg":      "empty",
		"truncated.jpg":  "",
		"text.png":       "not an image",
		"random.webp":    "not an image",
		"zero.png":       "",
		"heic.heic":      "corrupt image: no meta box",
		"truncated.png":  "corrupt image",
		"truncated.webp": "corrupt image",
	}
	for format, b := range imagetest.HugeHeaders(40000) {
		name := "bomb." + format
		write(name, b)
		bad[name] = "image too large: 40000×40000"
	}
	big := noisePNG(t, 64, 64)
	write("truncated.png", big[:len(big)/2])
	webp, err := os.ReadFile("internal/extractor/testdata/lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	write("truncated.webp", webp[:len(webp)/2])
	// A device named like a photo: reading it would never end.
	os.Symlink("/dev/zero", filepath.Join(dir, "zero.jpg"))
	bad["zero.jpg"] = "not a regular file"
	write("empty.jpg", nil)
	write("truncated.jpg", cat[:len(cat)/3])
	write("text.png", []byte("hello, this is text"))
	write("random.webp", bytes.Repeat([]byte{0x5a, 0x13, 0xf0}, 100))
	write("zero.png", imagetest.PNGHeader(0, 10))
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

// noisePNG is a w×h PNG of noise, which does not compress.
func noisePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.UintN(256))
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oddImages are valid files of the kinds that trip decoders: CMYK, YCCK
// and progressive JPEG, grey JPEG, 16-bit PNG with alpha, palette PNG with a
// transparent colour, animated GIF, 16-bit TIFF, WebP, a 1×1 image.
func oddImages(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, path := range map[string]string{
		"ycck.jpg":        "internal/extractor/testdata/ycck.jpg",
		"rgb16.tif":       "internal/extractor/testdata/rgb16.tif",
		"lossy.webp":      "internal/extractor/testdata/lossy.webp",
		"progressive.jpg": "testdata/hostile/progressive.jpg",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	// The decoder's fuzz corpus has a CMYK JPEG (Adobe APP14, inverted
	// ink, as Photoshop writes it); reuse it rather than keep a second copy.
	seed, err := os.ReadFile("internal/extractor/testdata/fuzz/FuzzDecode/jpeg-cmyk")
	if err != nil {
		t.Fatal(err)
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(seed)), "go test fuzz v1\n[]byte(")
	cmyk, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if !ok || err != nil {
		t.Fatalf("jpeg-cmyk seed: not a []byte corpus entry (%v)", err)
	}
	out["cmyk.jpg"] = []byte(cmyk)
	enc := func(name string, fn func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = b.Bytes()
	}
	grey := image.NewGray(image.Rect(0, 0, 40, 30))
	rgba16 := image.NewNRGBA64(image.Rect(0, 0, 40, 30))
	pal := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Transparent, color.RGBA{200, 30, 30, 255}, color.RGBA{30, 30, 200, 255}})
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			grey.SetGray(x, y, color.Gray{uint8(x * 6)})
			rgba16.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 1600), uint16(y * 2100), 40000, uint16((x + y) * 900)})
			pal.SetColorIndex(x, y, uint8((x/8+y/6)%3))
		}
	}
	enc("grey.jpg", func(b *bytes.Buffer) error { return jpeg.Encode(b, grey, nil) })
	enc("rgba16.png", func(b *bytes.Buffer) error { return png.Encode(b, rgba16) })
	enc("palette-transparent.png", func(b *bytes.Buffer) error { return png.Encode(b, pal) })
	enc("one-pixel.png", func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 1, 1))) })
	anim := &gif.GIF{}
	for i := 0; i < 3; i++ {
		f := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black, color.White, color.RGBA{0, 200, 0, 255}})
		for p := range f.Pix {
			f.Pix[p] = uint8((p/7 + i) % 3)
		}
		anim.Image = append(anim.Image, f)
		anim.Delay = append(anim.Delay, 10)
	}
	enc("animated.gif", func(b *bytes.Buffer) error { return gif.EncodeAll(b, anim) })
	return out
}

// A file deleted, or rewritten, after the walk listed it and before it is
// read: the deleted one is skipped with a reason, the rewritten one stored
// as read (its new size, time and hash), so the next run finds it current.
func TestEngine_FileChangedAfterWalk(t *testing.T) {
	dir := t.TempDir()
	cat, err := os.ReadFile("testdata/photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	gone, rewritten, kept := filepath.Join(dir, "gone.jpg"), filepath.Join(dir, "rewritten.jpg"), filepath.Join(dir, "kept.jpg")
	for _, p := range []string{gone, rewritten, kept} {
		if err := os.WriteFile(p, cat, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	ctx := context.Background()
	files, _, err := walk(ctx, []string{dir}, walkOptions{})
	if err != nil || len(files) != 3 {
		t.Fatalf("walk: %d files, %v", len(files), err)
	}
	os.Remove(gone)
	small := smallPNG(t)
	if err := os.WriteFile(rewritten, small, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(rewritten, later, later)

	var sum IndexSummary
	failures := map[string]string{}
	o := &IndexOptions{BatchSize: 256}
	if err := e.extractInto(ctx, e.model, files, o, map[string]store.Item{}, &sum, failures); err != nil {
		t.Fatal(err)
	}
	if r := failures[gone]; !strings.Contains(r, "no such file") {
		t.Errorf("deleted after the walk: reason %q, want it to say there is no such file", r)
	}
	it, ok, err := e.db.ItemByPath(rewritten)
	if err != nil || !ok {
		t.Fatalf("rewritten file not stored: %v", err)
	}
	if it.Size != int64(len(small)) || it.Hash != sha256.Sum256(small) || it.Format != "png" || it.ModTime != later.UnixNano() {
		t.Errorf("rewritten file stored as %+v; want the size, hash, format and time of what was read", it)
	}
	// The next run sees both stored files as current and drops nothing.
	next, err := e.Index(ctx, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Unchanged != 2 || next.Added+next.Updated+next.Removed != 0 {
		t.Errorf("next run: %+v, want 2 unchanged and nothing else", next)
	}
}

// The dedup report's thumbnails read photos as indexing does: a FIFO or a
// link to a device that took a photo's place since it was indexed is
// refused at once, never opened.
func TestDecodeThumbnail_RefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo, zero := filepath.Join(dir, "fifo.jpg"), filepath.Join(dir, "zero.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "not a regular file (named pipe)", zero: "not a regular file (link to a character device)"} {
		done := make(chan error, 1)
		go func() {
			_, err := DecodeThumbnail(path)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, extractor.ErrNotRegular) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want %q", filepath.Base(path), err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still decoding after 10 s", filepath.Base(path))
		}
	}
	img, err := DecodeThumbnail("testdata/photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 451 || b.Dy() != 300 {
		t.Errorf("cat.jpg decoded as %v, want 451×300 (small enough to keep whole)", b)
	}
}

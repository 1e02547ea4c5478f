package simsearch

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// heifCopies writes into dir HEIC and AVIF copies of sample photos, as a
// phone would store them: 8-bit at quality 50, 10-bit, and photos taken
// sideways (the --exifrot copies, stored turned) with the irot box that
// turns them upright. It returns each copy's path and its JPEG original's
// base name.
func heifCopies(t *testing.T, dir string) map[string]string {
	t.Helper()
	photos := filepath.Join("testdata", "photos")
	tmp := t.TempDir()
	copies := map[string]string{}
	add := func(name, orig string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		copies[p] = orig + ".jpg"
	}
	for _, n := range []string{"cat", "clock", "cups", "dahlia", "dogs", "fig", "jetty", "astronaut"} {
		add(n+".heic", n, imagetest.HEIFEnc(t, filepath.Join(photos, n+".jpg"), filepath.Join(tmp, n+".heic"), "-q", "50"))
	}
	for _, n := range []string{"facade", "forestpath", "espresso"} {
		add(n+".avif", n, imagetest.HEIFEnc(t, filepath.Join(photos, n+".jpg"), filepath.Join(tmp, n+".avif"), "-q", "50"))
	}
	for _, n := range []string{"fritillary", "dandelions"} {
		png := filepath.Join(tmp, n+".png")
		imagetest.PNG16(t, filepath.Join(photos, n+".jpg"), png)
		add(n+"-10bit.heic", n, imagetest.HEIFEnc(t, png, filepath.Join(tmp, n+"10.heic"), "-q", "50", "-b", "10"))
	}
	// EXIF orientations 8, 6 and 3 as anticlockwise quarter turns.
	for n, turns := range map[string]int{"aitzgorri": 1, "ladybird": 3} {
		b := imagetest.HEIFEnc(t, filepath.Join(photos, n+"--exifrot.jpg"), filepath.Join(tmp, n+"-rot.heic"), "-q", "50")
		rot, err := imagetest.WithIrot(b, turns)
		if err != nil {
			t.Fatal(err)
		}
		add(n+"-irot.heic", n, rot)
	}
	return copies
}

// TestEngine_HEICFindsItsJPEGOriginal indexes the sample photos with HEIC,
// AVIF and camera raw copies among them: every copy indexes, and a query
// by it finds its JPEG original first; a truncated HEIC, a HEIC bomb and
// a raw file without a preview are skipped with their reasons.
func TestEngine_HEICFindsItsJPEGOriginal(t *testing.T) {
	photos := copyPhotos(t)
	copies := heifCopies(t, photos)
	cat, err := os.ReadFile(filepath.Join(photos, "cat.heic"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(photos, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("truncated.heic", cat[:len(cat)/2])
	write("bomb.heic", imagetest.WithSize(cat, 60000, 60000))
	jpg, err := os.ReadFile(filepath.Join(photos, "cameraman.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	write("DSC0001.dng", dngWithPreview(jpg))
	write("DSC0002.dng", dngWithPreview(nil))

	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	ctx := context.Background()
	sum, err := e.Index(ctx, []string{photos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, f := range sum.Skipped {
		skipped[filepath.Base(f.Path)] = f.Reason
	}
	want := map[string]string{
		"truncated.heic": "corrupt image: heic",
		"bomb.heic":      "image too large: 60000×60000",
		"DSC0002.dng":    "camera raw file without a usable preview: no embedded JPEG",
	}
	for name, reason := range want {
		if !strings.Contains(skipped[name], reason) {
			t.Errorf("%s: skipped as %q, want %q", name, skipped[name], reason)
		}
	}
	if len(skipped) != len(want) {
		t.Errorf("skipped %v, want only %v", skipped, want)
	}
	paths, _ := samplePhotos(t)
	if n := len(paths) + len(copies) + 1; sum.Added != n {
		t.Errorf("added %d, want %d", sum.Added, n)
	}

	copies[filepath.Join(photos, "DSC0001.dng")] = "cameraman.jpg"
	same := samePicture(t)
	hits, exact := 0, 0
	for q, orig := range copies {
		m, err := e.Query(ctx, q, &QueryOptions{K: 4})
		if err != nil {
			t.Fatal(err)
		}
		// The original's lossless copies (PNG, BMP, TIFF, its EXIF-turned
		// twin) hold the same picture and tie with it: any may come first.
		if len(m) == 0 || filepath.Base(m[0].Path) != orig && same[filepath.Base(m[0].Path)] != orig {
			t.Errorf("%s: top %v, want %s (or a lossless copy of it) first", filepath.Base(q), names(m), orig)
			continue
		}
		found := false
		for _, r := range m {
			found = found || filepath.Base(r.Path) == orig
		}
		if !found {
			t.Errorf("%s: top %v lacks %s", filepath.Base(q), names(m), orig)
			continue
		}
		hits++
		if filepath.Base(m[0].Path) == orig {
			exact++
		}
	}
	t.Logf("copy recall@1 of the HEIC/AVIF/raw copies: %d/%d with the original or a lossless copy of it first, %d/%d with the JPEG itself first",
		hits, len(copies), exact, len(copies))
}

// samePicture maps the sample photos' lossless copies (variants.csv kinds
// png, bmp, tiff, exifrot) to their original's base name.
func samePicture(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "photos", "variants.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rows[1:] {
		switch r[2] {
		case "png", "bmp", "tiff", "exifrot":
			m[r[0]] = r[1]
		}
	}
	return m
}

// dngWithPreview makes a DNG-like file, a little-endian TIFF whose IFD0
// has DNGVersion and the JPEG jpg as its strip (no strip when nil).
func dngWithPreview(jpg []byte) []byte {
	le := binary.LittleEndian
	type entry struct {
		tag, typ uint16
		count    uint32
		value    uint32
	}
	entries := []entry{{0x00FE, 4, 1, 1}, {0xC612, 1, 4, 0x00000401}}
	if jpg != nil {
		off := uint32(8 + 2 + 12*4 + 4)
		entries = append(entries, entry{0x0111, 4, 1, off}, entry{0x0117, 4, 1, uint32(len(jpg))})
	}
	b := le.AppendUint32([]byte("II*\x00"), 8)
	b = le.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = le.AppendUint16(le.AppendUint16(b, e.tag), e.typ)
		b = le.AppendUint32(le.AppendUint32(b, e.count), e.value)
	}
	return append(le.AppendUint32(b, 0), jpg...)
}

// TestEngine_RawJPEGPair: a camera raw file (indexed by its preview) and
// the JPEG the camera wrote beside it are a pair in their group, both
// kept; a copy of the JPEG in another folder is a plain duplicate.
func TestEngine_RawJPEGPair(t *testing.T) {
	dir := t.TempDir()
	cat, err := os.ReadFile(filepath.Join("testdata", "photos", "cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	clock, err := os.ReadFile(filepath.Join("testdata", "photos", "clock.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"cam/DSC0001.dng":    dngWithPreview(cat),
		"cam/DSC0001.JPG":    cat,
		"backup/DSC0001.JPG": cat,
		"cam/DSC0002.JPG":    clock,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	ctx := context.Background()
	if sum, err := e.Index(ctx, []string{dir}, nil); err != nil || sum.Added != 4 {
		t.Fatalf("indexed %+v, %v; want 4 added", sum, err)
	}
	groups, err := e.Duplicates(ctx, nil, &DedupOptions{Keep: "format:jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || filepath.Base(groups[0].Keeper.Path) != "DSC0001.dng" || groups[0].Keeper.Format != "raw" {
		t.Fatalf("groups %+v, want one kept by the raw file", groups)
	}
	pair := map[string]bool{}
	for _, m := range groups[0].Members {
		rel, _ := filepath.Rel(dir, m.Path)
		pair[rel] = m.Pair
	}
	if len(pair) != 2 || !pair["cam/DSC0001.JPG"] || pair["backup/DSC0001.JPG"] {
		t.Errorf("members %v, want cam/DSC0001.JPG a pair and backup/DSC0001.JPG not", pair)
	}
}

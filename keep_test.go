package simsearch

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// editedCopies are what people make of a photo and keep beside it: the
// same pixels with more or fewer bytes, or fewer pixels. Each is made
// later than the original.
var editedCopies = []struct {
	name string
	make func(m *image.RGBA) (data []byte, isJPEG bool, err error)
}{
	{"bright", func(m *image.RGBA) ([]byte, bool, error) { return encodeJPEG(brighten(m), 90) }},
	{"mark", func(m *image.RGBA) ([]byte, bool, error) { return encodeJPEG(watermark(m), 90) }},
	{"q98", func(m *image.RGBA) ([]byte, bool, error) { return encodeJPEG(m, 98) }},
	{"half", func(m *image.RGBA) ([]byte, bool, error) { return encodeJPEG(half(m), 90) }},
	{"png", func(m *image.RGBA) ([]byte, bool, error) {
		var b bytes.Buffer
		err := png.Encode(&b, m)
		return b.Bytes(), false, err
	}},
}

// How a copy treats the original's EXIF capture date.
type exifCase int

const (
	noEXIF      exifCase = iota // neither original nor copies have EXIF
	exifDropped                 // the original has a capture date; the copies, re-encoded, have none
	exifKept                    // the JPEG copies carry the original's EXIF block, capture date and all
)

func (c exifCase) String() string { return [...]string{"no-exif", "exif-dropped", "exif-kept"}[c] }

// writeEditedSet writes, under dir/<case>/, each original (with an EXIF
// capture date unless noEXIF) and its edited copies, the copies dated
// later than the original. It returns, for every file, its original.
func writeEditedSet(t *testing.T, dir string, originals []string, c exifCase) map[string]string {
	t.Helper()
	out := filepath.Join(dir, c.String())
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	origin := map[string]string{}
	for i, src := range originals {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		m := image.NewRGBA(dec.Bounds())
		draw.Draw(m, m.Bounds(), dec, dec.Bounds().Min, draw.Src)
		if c != noEXIF {
			when := imagetest.EXIFTime{Original: fmt.Sprintf("2019:05:02 10:%02d:12", i)}
			b = imagetest.InsertAPP1(b, imagetest.EXIFBlock(binary.LittleEndian, 1, when))
		}
		base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		orig := filepath.Join(out, base+".jpg")
		writeDated(t, orig, b, time.Date(2019, 5, 2, 12, i, 0, 0, time.Local))
		origin[orig] = orig
		for j, e := range editedCopies {
			data, isJPEG, err := e.make(m)
			if err != nil {
				t.Fatal(err)
			}
			ext := ".jpg"
			if !isJPEG {
				ext = ".png"
			}
			if c == exifKept && isJPEG {
				data = imagetest.SpliceAPP1(data, imagetest.APP1(b))
			}
			p := filepath.Join(out, base+"-"+e.name+ext)
			writeDated(t, p, data, time.Date(2023, 3, 1+i, 9, j, 0, 0, time.Local))
			origin[p] = orig
		}
	}
	return origin
}

func writeDated(t *testing.T, path string, b []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func encodeJPEG(m image.Image, quality int) ([]byte, bool, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, m, &jpeg.Options{Quality: quality})
	return b.Bytes(), true, err
}

// brighten returns m 20% brighter, as an editor's exposure slider does.
func brighten(m *image.RGBA) *image.RGBA {
	out := image.NewRGBA(m.Bounds())
	for i, v := range m.Pix {
		if i%4 == 3 {
			out.Pix[i] = v
			continue
		}
		out.Pix[i] = uint8(min(255, int(v)*6/5))
	}
	return out
}

// watermark returns m with a light box in its lower right corner, where
// a photographer's name goes.
func watermark(m *image.RGBA) *image.RGBA {
	out := image.NewRGBA(m.Bounds())
	draw.Draw(out, out.Bounds(), m, m.Bounds().Min, draw.Src)
	b := m.Bounds()
	box := image.Rect(b.Max.X-b.Dx()/3, b.Max.Y-b.Dy()/10, b.Max.X-b.Dx()/40, b.Max.Y-b.Dy()/40)
	draw.Draw(out, box, image.NewUniform(color.NRGBA{255, 255, 255, 200}), image.Point{}, draw.Over)
	return out
}

func half(m *image.RGBA) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.Bounds().Dx()/2, m.Bounds().Dy()/2))
	draw.ApproxBiLinear.Scale(out, out.Bounds(), m, m.Bounds(), draw.Src, nil)
	return out
}

// The default keeper is the original in every group of originals with
// edited copies (brightened, watermarked, re-encoded at a higher quality,
// halved, converted to PNG, all made later), whether the copies dropped
// the original's EXIF capture date, kept it, or there never was one; and
// each group says why. The old default, largest, kept an edited copy.
func TestDuplicates_DefaultKeepsTheOriginal(t *testing.T) {
	paths, variants := samplePhotos(t)
	var originals []string
	for _, p := range paths {
		if _, isCopy := variants[p]; !isCopy && strings.HasSuffix(p, ".jpg") {
			originals = append(originals, p)
		}
	}
	slices.Sort(originals)
	const perCase = 5
	if len(originals) < 3*perCase {
		t.Fatalf("%d originals in testdata/photos, want %d", len(originals), 3*perCase)
	}
	dir := filepath.Join(t.TempDir(), "library")
	origin := map[string]string{}
	cases := map[string]exifCase{}
	for c := noEXIF; c <= exifKept; c++ {
		for p, o := range writeEditedSet(t, dir, originals[int(c)*perCase:int(c+1)*perCase], c) {
			origin[p], cases[p] = o, c
		}
	}
	e := openTestEngine(t, filepath.Join(t.TempDir(), "db", "s.db"))
	ctx := context.Background()
	sum, err := e.Index(ctx, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != len(origin) || len(sum.Skipped) != 0 {
		t.Fatalf("index added %d, skipped %v; want %d and none", sum.Added, sum.Skipped, len(origin))
	}

	groups, err := e.Duplicates(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantReason := map[exifCase]string{
		noEXIF:      "earliest file time 2019-05-02 12:", // no capture dates: the file times decide
		exifDropped: "earliest capture 2019-05-02 10:",   // the copies have none, and later file times
		exifKept:    "oldest file (2019-05-02 12:",       // the same capture date: the file times decide
	}
	grouped := map[string]string{} // file → its group's keeper
	for _, g := range groups {
		k := g.Keeper.Path
		c := cases[k]
		if origin[k] != k {
			t.Errorf("%s: keeper is the copy %s (%s), not its original %s", c, filepath.Base(k), g.KeeperReason, filepath.Base(origin[k]))
		}
		if !strings.HasPrefix(g.KeeperReason, wantReason[c]) {
			t.Errorf("%s: keeper %s won by %q, want %q…", c, filepath.Base(k), g.KeeperReason, wantReason[c])
		}
		if c != noEXIF && g.Keeper.Taken == 0 {
			t.Errorf("%s: keeper %s has no capture time recorded", c, filepath.Base(k))
		}
		grouped[k] = k
		for _, m := range g.Members {
			grouped[m.Path] = k
			// A JPEG copy that kept the EXIF block kept the capture date.
			if c == exifKept && strings.HasSuffix(m.Path, ".jpg") && m.Taken != g.Keeper.Taken {
				t.Errorf("%s: copy %s taken at %d, want the original's %d", c, filepath.Base(m.Path), m.Taken, g.Keeper.Taken)
			}
		}
	}
	// Every copy is grouped, and with its own original.
	for p, o := range origin {
		if grouped[p] != o {
			t.Errorf("%s: %s is grouped under %q, want its original %s", cases[p], filepath.Base(p), filepath.Base(grouped[p]), filepath.Base(o))
		}
	}

	// The figure for the README: keepers that are originals, old default
	// against new.
	count := func(keep dedup.Policy) (originals, groups int) {
		gs, err := e.Duplicates(ctx, nil, &DedupOptions{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if origin[g.Keeper.Path] == g.Keeper.Path {
				originals++
			}
		}
		return originals, len(gs)
	}
	oldN, oldGroups := count(dedup.Largest)
	newN, newGroups := count(dedup.Default)
	t.Logf("keepers that are originals: --keep largest %d of %d groups, default (%s) %d of %d", oldN, oldGroups, dedup.Default, newN, newGroups)
	if newN != newGroups || newGroups != 3*perCase {
		t.Errorf("default: %d of %d keepers are originals, want all %d", newN, newGroups, 3*perCase)
	}
	if oldN == oldGroups {
		t.Errorf("largest kept every original too: the edited copies do not test what the default fixes")
	}
}

package reference_test

import (
	"bufio"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/reference"
)

func TestPhotos_AllDecodeWithShorterSide256(t *testing.T) {
	names := reference.Names()
	if len(names) != reference.Count {
		t.Fatalf("Names() has %d photos, want %d", len(names), reference.Count)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() is not sorted and unique: %q", names)
	}
	all, err := fs.Glob(reference.Photos(), "*")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, names) {
		t.Errorf("Photos() holds %q, Names() says %q", all, names)
	}
	for _, name := range names {
		if filepath.Ext(name) != ".jpg" {
			t.Errorf("%s: not a .jpg name", name)
		}
		img := decode(t, reference.Photos(), name)
		b := img.Bounds()
		if short := min(b.Dx(), b.Dy()); short != 256 {
			t.Errorf("%s: %dx%d, shorter side %d, want 256", name, b.Dx(), b.Dy(), short)
		}
	}
}

func TestNames_ReturnsAFreshSlice(t *testing.T) {
	first := reference.Names()
	want := slices.Clone(first)
	first[0] = "changed.jpg"
	if got := reference.Names(); !slices.Equal(got, want) {
		t.Errorf("after changing a returned slice, Names() = %q, want %q", got, want)
	}
}

// Every photo must have its row in photos/SOURCES.md, and no row may name
// a photo that is not there: the licences are only honoured if attributed.
func TestPhotos_EachHasASourcesRow(t *testing.T) {
	f, err := os.Open(filepath.Join("photos", "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) > 2 && strings.HasSuffix(strings.TrimSpace(cells[1]), ".jpg") {
			rows = append(rows, strings.TrimSpace(cells[1]))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(rows)
	if names := reference.Names(); !slices.Equal(rows, names) {
		t.Errorf("SOURCES.md rows %q, photos %q", rows, names)
	}
}

// The reference set must share no photograph with testdata/photos, or the
// centre would be fitted to the very photos the tests search. A resized
// copy of the same photo has a near-identical coarse layout, so a
// correlation of the 16×16 grey thumbnails above maxCorrelation means the
// same photo. Different photos measured at most 0.83 when this was written,
// a resized copy 0.99 or more (TestCorrelation_SeesAResizedCopy).
func TestPhotos_DistinctFromTestdata(t *testing.T) {
	const maxCorrelation = 0.95
	testdata := filepath.Join("..", "..", "testdata", "photos")
	originals, err := filepath.Glob(filepath.Join(testdata, "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	originals = slices.DeleteFunc(originals, func(p string) bool { return strings.Contains(p, "--") })
	if len(originals) == 0 {
		t.Fatalf("no photos in %s", testdata)
	}
	refs := make(map[string][]float64)
	for _, r := range reference.Names() {
		refs[r] = thumb(t, decode(t, reference.Photos(), r))
	}
	var worst float64
	var worstPair string
	for _, o := range originals {
		ot := thumb(t, decode(t, os.DirFS(testdata), filepath.Base(o)))
		for r, rt := range refs {
			c := correlation(ot, rt)
			if c > maxCorrelation {
				t.Errorf("%s and %s look like the same photo: correlation %.3f", filepath.Base(o), r, c)
			}
			if c > worst {
				worst, worstPair = c, fmt.Sprintf("%s ~ %s", filepath.Base(o), r)
			}
		}
	}
	t.Logf("closest pair: %s, correlation %.3f", worstPair, worst)
}

// Self-check of the distinctness measure: it must call a photo and its
// resized, re-encoded copy (a testdata half-size variant) the same.
func TestCorrelation_SeesAResizedCopy(t *testing.T) {
	dir := os.DirFS(filepath.Join("..", "..", "testdata", "photos"))
	c := correlation(thumb(t, decode(t, dir, "ladybird.jpg")), thumb(t, decode(t, dir, "ladybird--half.jpg")))
	if c < 0.99 {
		t.Errorf("ladybird and its half-size copy: correlation %.3f, want >= 0.99", c)
	}
}

func decode(t *testing.T, fsys fs.FS, name string) image.Image {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return img
}

const side = 16

// thumb returns the mean luma of each cell of a side×side grid laid over
// img, whatever its aspect ratio. JPEGs decode to YCbCr or Gray, whose luma
// planes are read directly: image.At would make the test ten times slower.
func thumb(t *testing.T, img image.Image) []float64 {
	t.Helper()
	var luma func(x, y int) uint8
	switch m := img.(type) {
	case *image.YCbCr:
		luma = func(x, y int) uint8 { return m.Y[m.YOffset(x, y)] }
	case *image.Gray:
		luma = func(x, y int) uint8 { return m.GrayAt(x, y).Y }
	default:
		t.Fatalf("decoded to %T, want *image.YCbCr or *image.Gray", img)
	}
	b := img.Bounds()
	sum := make([]float64, side*side)
	n := make([]float64, side*side)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		cy := (y - b.Min.Y) * side / b.Dy()
		for x := b.Min.X; x < b.Max.X; x++ {
			i := cy*side + (x-b.Min.X)*side/b.Dx()
			sum[i] += float64(luma(x, y))
			n[i]++
		}
	}
	for i := range sum {
		sum[i] /= n[i]
	}
	return sum
}

// correlation is Pearson's r of two thumbnails; 0 when either is flat.
func correlation(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var ab, aa, bb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		ab += da * db
		aa += da * da
		bb += db * db
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

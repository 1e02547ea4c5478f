package extractor

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// photosDir holds the project's sample photos and their generated copies
// (testdata/photos/make-variants.sh).
var photosDir = filepath.Join("..", "..", "testdata", "photos")

// meanAbsDiff is the mean absolute difference of two same-sized images,
// in grey levels per channel.
func meanAbsDiff(a, b *RGB) float64 {
	var s int64
	for i := range a.Pix {
		d := int64(a.Pix[i]) - int64(b.Pix[i])
		s += max(d, -d)
	}
	return float64(s) / float64(len(a.Pix))
}

// TestDecode_RealEXIFRotatedPhotos decodes the camera-style copies whose
// pixels are stored turned, with an EXIF Orientation that turns them
// back: applied, they must match the originals. The copies were written
// by ImageMagick and exiftool, not by this package's tests, so a rotation
// applied the wrong way round cannot cancel out.
func TestDecode_RealEXIFRotatedPhotos(t *testing.T) {
	tests := []struct {
		name        string
		orientation int
	}{
		{"ladybird", 6},
		{"espresso", 3},
		{"aitzgorri", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, oinfo, err := DecodeFile(filepath.Join(photosDir, tt.name+".jpg"), nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(photosDir, tt.name+"--exifrot.jpg")
			rot, info, err := DecodeFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Orientation != tt.orientation || oinfo.Orientation != 0 && oinfo.Orientation != 1 {
				t.Fatalf("orientation %d (original %d), want %d (1)", info.Orientation, oinfo.Orientation, tt.orientation)
			}
			if rot.W != orig.W || rot.H != orig.H || info.Width != oinfo.Width || info.Height != oinfo.Height {
				t.Fatalf("oriented %d×%d (info %d×%d), original %d×%d (info %d×%d)",
					rot.W, rot.H, info.Width, info.Height, orig.W, orig.H, oinfo.Width, oinfo.Height)
			}
			// Re-encoding at quality 95 moves pixels by about 1 level; a
			// photo compared with itself turned the wrong way differs by
			// tens of levels (checked below).
			d := meanAbsDiff(rot, orig)
			t.Logf("oriented copy: mean difference %.2f levels", d)
			if d > 3 {
				t.Errorf("oriented copy differs from the original by %.2f levels per channel, want ≤ 3", d)
			}

			// The stored pixels, not oriented, really are turned: this is
			// what a decoder that ignored EXIF would give.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			raw := toRGB(stored, 1)
			if raw.W == orig.W && raw.H == orig.H {
				d := meanAbsDiff(raw, orig)
				t.Logf("stored pixels: mean difference %.2f levels", d)
				if d < 20 {
					t.Errorf("stored pixels differ from the original by only %.2f levels: the test cannot tell", d)
				}
			} else if raw.W != orig.H || raw.H != orig.W {
				t.Errorf("stored %d×%d is not the original %d×%d turned", raw.W, raw.H, orig.W, orig.H)
			}
		})
	}
}

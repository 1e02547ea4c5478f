package extractor

import (
	"encoding/binary"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// ReadCapture gives, without decoding, the capture fields that
// DecodeBytes gives: for JPEG with and without EXIF, a raw file's own
// IFD0, a raw file whose EXIF is in its preview, and every sample photo.
func TestReadCapture_AsDecode(t *testing.T) {
	when := imagetest.EXIFTime{Original: "2019:05:02 10:11:12", Offset: "+02:00", Make: "FUJIFILM", Model: "X-T4"}
	jpg := jpegOf(t, quadImage())
	preview, _ := rawFixtures(t)
	inputs := map[string][]byte{
		"jpeg.jpg":       imagetest.InsertAPP1(jpg, imagetest.EXIFBlock(binary.BigEndian, 1, when)),
		"plain.jpg":      jpg,
		"ifd0.dng":       withIFD0Strings(t, dngLike(preview, nil, 1), map[uint16]string{tagMake: "Canon", tagModel: "Canon EOS R5"}),
		"preview.cr3":    cr3Like(imagetest.InsertAPP1(preview, imagetest.EXIFBlock(binary.LittleEndian, 1, when)), jpegOf(t, image.NewGray(image.Rect(0, 0, 40, 30)))),
		"not-an-image.x": []byte("some text"),
	}
	paths, _ := filepath.Glob(filepath.Join(photosDir, "*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(p)] = b
	}
	withDate := 0
	for name, b := range inputs {
		got := ReadCapture(b, name)
		_, want, err := DecodeBytes(b, &DecodeOptions{Name: name})
		if err != nil && want.Format == "" {
			want = Info{} // not an image: nothing to read
		}
		if got.Format != want.Format || got.Taken != want.Taken || got.TakenAt != want.TakenAt || got.Make != want.Make || got.Model != want.Model {
			t.Errorf("%s: ReadCapture %+v, DecodeBytes %+v", name, got, want)
		}
		if got.TakenAt != "" {
			withDate++
		}
	}
	if withDate < 2 {
		t.Errorf("only %d inputs had a capture time: the comparison tests too little", withDate)
	}
	if got := ReadCapture(inputs["preview.cr3"], "preview.cr3"); got.TakenAt != "2019-05-02T10:11:12+02:00" || got.Model != "X-T4" {
		t.Errorf("raw file with EXIF in its preview: %+v, want the preview's capture time and camera", got)
	}
}

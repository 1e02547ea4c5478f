//go:build !cgo || nolibheif

package extractor

import (
	"fmt"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"
)

// heifDecoderName says what decodes HEIC and AVIF files here, through
// decodeHEIFFallback: the gen2brain modules load the system libheif (HEIC) or libavif (AVIF) when
// they find the unversioned shared library, which only the -dev packages
// install and only a dynamically linked program can load, and otherwise
// run the same libraries compiled to WebAssembly.
func heifDecoderName() string {
	h, a := "WebAssembly", "WebAssembly"
	if heic.Dynamic() == nil {
		h = "system libheif"
	}
	if avif.Dynamic() == nil {
		a = "system libavif"
	}
	return fmt.Sprintf("pure Go (HEIC: %s, AVIF: %s)", h, a)
}

// libheifAvailable is false: HEIC and AVIF files go through the fallback.
const libheifAvailable = false

// decodeHEIF decodes HEIC and AVIF files without cgo (or, built with the
// nolibheif tag, without libheif's headers); see decodeHEIFFallback.
func decodeHEIF(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	return decodeHEIFFallback(b, o, info)
}

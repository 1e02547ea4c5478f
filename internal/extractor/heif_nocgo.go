//go:build !cgo || nolibheif

package extractor

// heifDecoderName says which decoder HEIC and AVIF files go through.
func heifDecoderName() string { return heifFallbackName() }

// decodeHEIF decodes HEIC and AVIF files without cgo (or, built with the
// nolibheif tag, without libheif's headers); see decodeHEIFFallback.
func decodeHEIF(b []byte, o DecodeOptions, info Info) (*RGB, Info, error) {
	return decodeHEIFFallback(b, o, info)
}

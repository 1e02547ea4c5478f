//go:build !cgo

package extractor

// libjpegAvailable is false without cgo: JPEGs go through image/jpeg.
const libjpegAvailable = false

func decodeLibjpeg([]byte, DecodeOptions, Info) (*RGB, Info, error) {
	panic("extractor: libjpeg is not built in")
}

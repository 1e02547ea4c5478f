// Package extractor turns image files into embeddings: it decodes JPEG,
// PNG, GIF (first frame), BMP, TIFF, WebP, HEIC/HEIF and AVIF, and camera
// raw files by their largest embedded JPEG preview, detected from content;
// applies the EXIF orientation and reads the capture time; refuses images whose header declares more
// pixels than a limit before decoding a single pixel; resizes and
// normalises per the model's spec; runs batches through one ONNX Runtime
// session; and pools the feature map (GAP, GeM, MAC or R-MAC) into one
// L2-normalised, centred vector.
//
// The ONNX Runtime binding needs cgo and lives in runtime_cgo.go; built
// without cgo the package still compiles, decodes and pools, and
// OpenRuntime returns ErrRuntimeUnavailable.
//
// In cgo builds JPEGs are decoded by the system libjpeg (libjpeg-turbo,
// SIMD; jpeg_cgo.go, linked with -ljpeg) and, when DecodeOptions.MinSide
// allows, at 1/2, 1/4 or 1/8 scale straight from the DCT coefficients,
// several times faster than image/jpeg; pure-Go builds use image/jpeg and
// a box filter. The two builds' pixels differ by about one grey level on
// average; in both, a truncated JPEG is ErrCorrupt rather than painted
// grey, and CMYK/YCCK files are read with Adobe's inverted convention.
//
// HEIC and AVIF go through the system libheif in cgo builds (heif_cgo.go,
// linked with -lheif), which applies their rotation and mirror boxes;
// without cgo, or built with the nolibheif tag, through gen2brain/heic
// and /avif (libheif and libavif in WebAssembly, or the system libraries
// when they find them), 2 to 7 times slower. HEIFDecoder says which. The
// primary image's size is read from its ispe box and checked against
// MaxPixels before either decoder runs.
//
// Files are read by ReadImage, for every caller: regular files only (a
// FIFO or a device is refused without being opened for reading), at most
// DefaultMaxBytes, and the first bytes sniffed before the rest is read.
//
// Main types: Runtime (the loaded library; one per process is shared),
// Session (one model, safe for concurrent use), Extractor (the pipeline:
// decoding goroutines feeding the network, so the network, not decoding,
// sets the pace).
//
// Example:
//
//	rt, err := extractor.OpenRuntime(nil) // $SIMSEARCH_ORT_LIB, lib/ beside the binary, the system
//	if err != nil {
//		return err
//	}
//	defer rt.Close()
//	ex, err := extractor.New(rt, spec, nil) // spec from model.Load
//	if err != nil {
//		return err
//	}
//	defer ex.Close()
//	return ex.Files(ctx, paths, func(r extractor.Result) error {
//		if r.Err != nil {
//			fmt.Fprintf(os.Stderr, "skip %s: %v\n", r.Path, r.Err)
//			return nil
//		}
//		fmt.Println(r.Path, r.Vector[:4])
//		return nil
//	})
package extractor

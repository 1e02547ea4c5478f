//go:build cgo

package extractor

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDecodeStages splits the per-image CPU of a pipeline decode
// worker on a 2 MP and a 12 MP photo-like JPEG (quality 90) into its
// stages, each on its own: reading the file (the safe reader), the
// SHA-256 content hash the index records, the EXIF block, libjpeg at the
// DCT scale MinSideFor picks for vgg16-random, and preprocessing (resize,
// normalise, standardise) into the tensor (afresh, and with a worker's
// kept scratch); "all" is decodeSource and Tensor as a worker runs them.
// ns/op is per image, and cpu-ms/op the worker thread's CPU time per
// image (the collector's work on other threads is not in it).
//
//	go test -run '^$' -bench DecodeStages -benchtime 20x ./internal/extractor
func BenchmarkDecodeStages(b *testing.B) {
	spec := vgg16Random(b)
	for _, sz := range [][2]int{{1920, 1080}, {4000, 3000}} {
		path := benchJPEGs(b, sz[0], sz[1], 1)[0]
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("%dx%d", sz[0], sz[1])
		t := make([]float32, 3*spec.Pre.Size*spec.Pre.Size)
		var sc scratch
		stages := []struct {
			name string
			run  func() error
		}{
			{"read", func() error { _, _, err := ReadImage(path, 0); return err }},
			{"sha256", func() error { sha256.Sum256(data); return nil }},
			{"exif", func() error { readEXIF(exifBlock(FormatJPEG, data), time.Local); return nil }},
		}
		for _, minSide := range []int{MinSideFor(spec.Pre), MinSideFor(spec.Pre) / 2} {
			o := &DecodeOptions{MinSide: minSide}
			img, _, err := DecodeBytes(data, o)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d bytes, at MinSide %d decoded at 1/%d to %d×%d", name, len(data), minSide, jpegScale(sz[0], sz[1], o.MinSide), img.W, img.H)
			stages = append(stages, []struct {
				name string
				run  func() error
			}{
				{fmt.Sprintf("libjpeg/minside=%d", minSide), func() error { _, _, err := DecodeBytes(data, o); return err }},
				{fmt.Sprintf("tensor/minside=%d", minSide), func() error { return Tensor(t, img, spec.Pre) }},
				// As a worker runs it, with its scratch kept.
				{fmt.Sprintf("tensor-reused/minside=%d", minSide), func() error { return sc.tensor(t, img, spec.Pre) }},
				{fmt.Sprintf("all/minside=%d", minSide), func() error {
					e := &Extractor{spec: spec, decode: *o}
					m, _, _, err := e.decodeSource(b.Context(), newBudget(0), FileSource(path))
					if err != nil {
						return err
					}
					return Tensor(t, m, spec.Pre)
				}},
			}...)
		}
		for _, s := range stages {
			b.Run(name+"/"+s.name, func(b *testing.B) {
				// The thread's own CPU time: on a loaded machine wall
				// time also counts the waits for a core.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				c0 := threadCPU()
				for b.Loop() {
					if err := s.run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((threadCPU()-c0).Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

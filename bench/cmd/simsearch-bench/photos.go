package main

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// photoSize names a generated photo size.
type photoSize struct {
	Name string `json:"name"`
	W    int    `json:"w"`
	H    int    `json:"h"`
}

func (p photoSize) MP() float64 { return float64(p.W*p.H) / 1e6 }

// photoLike draws a w×h YCbCr 4:2:0 picture with what makes real photos
// expensive to code (smooth gradients, hard edges, sensor-like noise),
// varied by seed so that no two files embed alike: the frequencies and
// phases of the gradients and a few coloured rectangles depend on it.
// It is extractor/bench_test.go's generator with the seed added.
func photoLike(w, h int, seed uint64) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(seed, 0x9407))
	fx, fy := 80+rng.Float64()*140, 50+rng.Float64()*100
	px, py := rng.Float64()*6, rng.Float64()*6
	bw, bh := 200+rng.IntN(400), 150+rng.IntN(300)
	sx := make([]float64, w)
	for x := range sx {
		sx[x] = math.Sin(float64(x)*float64(1000)/float64(w)/fx*2 + px)
	}
	type rect struct {
		x0, y0, x1, y1 int
		dy             float64
		cb, cr         uint8
	}
	rects := make([]rect, 3+rng.IntN(4))
	for i := range rects {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		rects[i] = rect{x0, y0, x0 + w/8 + rng.IntN(w/3+1), y0 + h/8 + rng.IntN(h/3+1),
			rng.Float64()*120 - 60, uint8(40 + rng.IntN(176)), uint8(40 + rng.IntN(176))}
	}
	for y := range h {
		cy := math.Cos(float64(y)*float64(1000)/float64(w)/fy*2 + py)
		row := m.Y[y*m.YStride : y*m.YStride+w]
		for x := range row {
			v := 128 + 60*sx[x]*cy
			if (x/bw+y/bh)%3 == 0 {
				v += 40
			}
			for _, r := range rects {
				if x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1 {
					v += r.dy
				}
			}
			row[x] = uint8(max(0, min(255, v+rng.NormFloat64()*6)))
		}
	}
	for y := range (h + 1) / 2 {
		for x := range (w + 1) / 2 {
			cb, cr := 128+40*math.Sin(float64(x)/70+px), 128+40*math.Cos(float64(y)/50+py)
			for _, r := range rects {
				if 2*x >= r.x0 && 2*x < r.x1 && 2*y >= r.y0 && 2*y < r.y1 {
					cb, cr = float64(r.cb), float64(r.cr)
				}
			}
			m.Cb[y*m.CStride+x] = uint8(cb)
			m.Cr[y*m.CStride+x] = uint8(cr)
		}
	}
	return m
}

// photoJPEG encodes photoLike at quality 90, as cameras and phones do.
func photoJPEG(w, h int, seed uint64) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photoLike(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// photoDir returns n generated JPEGs of size s in dir/<name>, generating
// the missing ones on all cores. Files are named by seed, so a directory
// made once is reused by later runs.
func photoDir(dir string, s photoSize, n int, seed0 uint64) ([]string, error) {
	d := filepath.Join(dir, fmt.Sprintf("photos-%dx%d", s.W, s.H))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(d, fmt.Sprintf("p%05d.jpg", seed0+uint64(i)))
	}
	work := make(chan int)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range work {
				if _, err := os.Stat(paths[i]); err == nil {
					continue
				}
				b, err := photoJPEG(s.W, s.H, seed0+uint64(i))
				if err == nil {
					tmp := paths[i] + ".tmp"
					if err = os.WriteFile(tmp, b, 0o644); err == nil {
						err = os.Rename(tmp, paths[i])
					}
				}
				errs[i] = err
			}
		})
	}
	for i := range paths {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("generate photos: %w", err)
		}
	}
	return paths, nil
}

// meanFileSize is the average size of the files at paths.
func meanFileSize(paths []string) float64 {
	var sum int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			sum += fi.Size()
		}
	}
	if len(paths) == 0 {
		return 0
	}
	return float64(sum) / float64(len(paths))
}

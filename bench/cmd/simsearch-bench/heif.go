package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// heifFigure is decode + preprocess of one photo in one format and path.
type heifFigure struct {
	Format  string  `json:"format"`
	Path    string  `json:"path"` // the decoder: libjpeg or image/jpeg, libheif, or the fallback's name
	Bytes   int     `json:"file_bytes"`
	DecodeM float64 `json:"decode_shrink_ms"`
	TensorM float64 `json:"tensor_ms"`
}

// heifTable times decode (with the shrink the extractor asks for) and
// tensor for the photo jpg as JPEG and as HEIC and AVIF made from it with
// heif-enc at quality 50, on the build's path and on the pure-Go
// fallback; medians over reps. Without heif-enc the table says so.
func heifTable(dir, jpg string, pre model.Preprocess, reps int) (Table, []heifFigure, error) {
	t := Table{
		Caption: "HEIC and AVIF against JPEG: decode (with the extractor's shrink) and tensor, ms per image on one goroutine (median), for one photo encoded by heif-enc at quality 50. " +
			"The build's path is " + extractor.HEIFDecoder() + "; the fallback is gen2brain/heic and /avif (WebAssembly, or the system libraries when their unversioned .so is installed).",
		Header: []string{"format", "decoder", "file", "decode with shrink", "tensor", "total", "× JPEG"},
	}
	enc, err := exec.LookPath("heif-enc")
	if err != nil {
		t.Rows = append(t.Rows, []string{"heic, avif", "not measured: heif-enc not installed (make deps)", "", "", "", "", ""})
		return t, nil, nil
	}
	data := map[string][]byte{}
	if data["jpeg"], err = os.ReadFile(jpg); err != nil {
		return t, nil, err
	}
	for _, f := range []string{"heic", "avif"} {
		out := filepath.Join(dir, "photo."+f)
		args := []string{"-q", "50", "-o", out, jpg}
		if f == "avif" {
			args = append([]string{"-p", "speed=9"}, args...)
		}
		if msg, err := exec.Command(enc, args...).CombinedOutput(); err != nil {
			return t, nil, fmt.Errorf("heif-enc %s: %v: %s", f, err, msg)
		}
		if data[f], err = os.ReadFile(out); err != nil {
			return t, nil, err
		}
	}
	o := &extractor.DecodeOptions{MinSide: extractor.MinSideFor(pre)}
	dst := make([]float32, 3*pre.Size*pre.Size)
	type run struct {
		format, path string
		dec          func([]byte, *extractor.DecodeOptions) (*extractor.RGB, extractor.Info, error)
	}
	runs := []run{
		{"jpeg", "libjpeg (cgo) or image/jpeg", extractor.DecodeBytes},
		{"heic", extractor.HEIFDecoder(), extractor.DecodeBytes},
		{"heic", "fallback", extractor.DecodeHEIFFallback},
		{"avif", extractor.HEIFDecoder(), extractor.DecodeBytes},
		{"avif", "fallback", extractor.DecodeHEIFFallback},
	}
	var figs []heifFigure
	for _, r := range runs {
		var dec, ten []float64
		for range reps {
			start := time.Now()
			img, _, err := r.dec(data[r.format], o)
			if err != nil {
				return t, nil, fmt.Errorf("%s via %s: %w", r.format, r.path, err)
			}
			mid := time.Now()
			if err := extractor.Tensor(dst, img, pre); err != nil {
				return t, nil, err
			}
			dec = append(dec, float64(mid.Sub(start).Microseconds())/1000)
			ten = append(ten, float64(time.Since(mid).Microseconds())/1000)
		}
		figs = append(figs, heifFigure{Format: r.format, Path: r.path, Bytes: len(data[r.format]), DecodeM: median(dec), TensorM: median(ten)})
	}
	base := figs[0].DecodeM + figs[0].TensorM
	for _, f := range figs {
		total := f.DecodeM + f.TensorM
		t.Rows = append(t.Rows, []string{f.Format, f.Path, mib(float64(f.Bytes)), ms(f.DecodeM), ms(f.TensorM), ms(total), fmt.Sprintf("%.1f", total/base)})
	}
	return t, figs, nil
}

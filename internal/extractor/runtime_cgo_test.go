//go:build cgo

package extractor

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// openTestRuntime opens ONNX Runtime or skips when the library is not
// installed; under `make test` SIMSEARCH_ORT_LIB is set and a failure to
// load it fails the test instead.
func openTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	rt, err := OpenRuntime(nil)
	if err != nil {
		if os.Getenv(LibraryEnv) == "" && errors.Is(err, ErrNoLibrary) {
			t.Skipf("ONNX Runtime not installed (run make, or set %s): %v", LibraryEnv, err)
		}
		t.Fatalf("open runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// tinyVGG builds a small VGG-like network: 16×16×3 input, blocks of 4 and
// 8 channels, so the feature map is 8×4×4.
func tinyVGG(t testing.TB) (model.Spec, *onnx.VGG) {
	t.Helper()
	cfg := onnx.VGGConfig{Name: "tiny", Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8, 8}}, Seed: 7}
	v, err := onnx.NewVGG(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := onnx.WriteModel(path, v.Model); err != nil {
		t.Fatal(err)
	}
	pre := model.TorchPreprocess(16)
	spec := model.Spec{
		Name: "tiny", Path: path, Input: "data", Output: v.Feature.Name,
		Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
		Pre: pre, Pooling: model.GAP,
	}
	return spec, v
}

// reference computes the VGG trunk in plain Go: conv 3×3 pad 1 + ReLU,
// 2×2 max-pool after each block.
func reference(cfg [][]int, w *onnx.VGGWeights, x []float32, c, n int) []float32 {
	li := 0
	for _, block := range cfg {
		for range block {
			l := w.Conv[li]
			li++
			out := int(l.Shape[0])
			y := make([]float32, out*n*n)
			for o := 0; o < out; o++ {
				for i := 0; i < n; i++ {
					for j := 0; j < n; j++ {
						s := float64(l.B[o])
						for ci := 0; ci < c; ci++ {
							for di := -1; di <= 1; di++ {
								for dj := -1; dj <= 1; dj++ {
									ii, jj := i+di, j+dj
									if ii < 0 || jj < 0 || ii >= n || jj >= n {
										continue
									}
									s += float64(l.W[((o*c+ci)*3+di+1)*3+dj+1]) * float64(x[(ci*n+ii)*n+jj])
								}
							}
						}
						y[(o*n+i)*n+j] = float32(math.Max(s, 0))
					}
				}
			}
			x, c = y, out
		}
		m := n / 2
		y := make([]float32, c*m*m)
		for ch := 0; ch < c; ch++ {
			for i := 0; i < m; i++ {
				for j := 0; j < m; j++ {
					v := x[(ch*n+2*i)*n+2*j]
					v = max(v, x[(ch*n+2*i)*n+2*j+1], x[(ch*n+2*i+1)*n+2*j], x[(ch*n+2*i+1)*n+2*j+1])
					y[(ch*m+i)*m+j] = v
				}
			}
		}
		x, n = y, m
	}
	return x
}

func TestSession_MatchesGoReference(t *testing.T) {
	rt := openTestRuntime(t)
	spec, v := tinyVGG(t)
	for _, threads := range []int{1, 2} {
		s, err := rt.NewSession(spec, &SessionOptions{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		const batch = 3
		r := rand.New(rand.NewPCG(1, 2))
		in := make([]float32, batch*3*16*16)
		for i := range in {
			in[i] = float32(r.NormFloat64())
		}
		got, err := s.Run(in, batch)
		if err != nil {
			t.Fatal(err)
		}
		per := 8 * 4 * 4
		if len(got) != batch*per {
			t.Fatalf("got %d values, want %d", len(got), batch*per)
		}
		for b := 0; b < batch; b++ {
			want := reference([][]int{{4}, {8, 8}}, v.Weights, in[b*3*256:(b+1)*3*256], 3, 16)
			for i := range want {
				if d := math.Abs(float64(got[b*per+i] - want[i])); d > 1e-4 {
					t.Fatalf("threads %d image %d value %d: ORT %g, Go %g (diff %g)", threads, b, i, got[b*per+i], want[i], d)
				}
			}
		}
		s.Close()
	}
}

func TestSession_RejectsWrongInput(t *testing.T) {
	rt := openTestRuntime(t)
	spec, _ := tinyVGG(t)
	s, err := rt.NewSession(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(make([]float32, 10), 1); err == nil {
		t.Fatal("Run accepted an input of the wrong length")
	}
	spec.Channels = 16 // the spec now disagrees with the graph
	s2, err := rt.NewSession(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, err = s2.Run(make([]float32, 3*16*16), 1)
	if err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("a feature shape that disagrees with the spec gave %v, want a shape error", err)
	}
}

func TestOpenRuntime_SaysWhereItLooked(t *testing.T) {
	_, err := OpenRuntime(&RuntimeOptions{Getenv: func(k string) string {
		if k == LibraryEnv {
			return "/nonexistent/libonnxruntime.so.1"
		}
		return ""
	}})
	if !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("err = %v, want ErrNoLibrary", err)
	}
	if !strings.Contains(err.Error(), "/nonexistent/libonnxruntime.so.1 (not found)") {
		t.Fatalf("error does not list the path tried: %v", err)
	}
}

func TestNewSession_MissingModel(t *testing.T) {
	rt := openTestRuntime(t)
	spec, _ := tinyVGG(t)
	spec.Path = filepath.Join(t.TempDir(), "gone.onnx")
	if _, err := rt.NewSession(spec, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	spec.Path = bad
	if _, err := rt.NewSession(spec, nil); err == nil {
		t.Fatal("a garbage model file opened")
	}
}

// The whole pipeline (decode, preprocess, network, pool) on a tiny model
// equals the same steps computed in Go.
func TestExtractor_MatchesGoReference(t *testing.T) {
	rt := openTestRuntime(t)
	spec, v := tinyVGG(t)
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 5; i++ {
		img := image.NewNRGBA(image.Rect(0, 0, 40+7*i, 30+5*i))
		r := rand.New(rand.NewPCG(uint64(i), 9))
		for p := range img.Pix {
			img.Pix[p] = uint8(r.IntN(256))
		}
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	for _, pooling := range []model.Pooling{model.GAP, model.GeM, model.MAC, model.RMAC} {
		ex, err := New(rt, spec, &Options{Raw: true, Pooling: pooling, Batch: 2})
		if err != nil {
			t.Fatal(err)
		}
		got := make([][]float32, len(paths))
		err = ex.Files(context.Background(), paths, func(r Result) error {
			if r.Err != nil {
				return r.Err
			}
			got[r.Seq] = r.Vector
			return nil
		})
		ex.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range paths {
			img, _, err := DecodeFile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			in := make([]float32, 3*16*16)
			if err := Tensor(in, img, spec.Pre); err != nil {
				t.Fatal(err)
			}
			fm := reference([][]int{{4}, {8, 8}}, v.Weights, in, 3, 16)
			want, err := Pool(fm, 8, 4, 4, pooling)
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if d := math.Abs(float64(got[i][k] - want[k])); d > 1e-4 {
					t.Fatalf("%s %s value %d: pipeline %g, Go %g", pooling, filepath.Base(p), k, got[i][k], want[k])
				}
			}
		}
	}
}

// A cancelled context stops ONNX Runtime in the middle of a batch: the
// batch below takes seconds on two cores, the run returns ctx's error soon
// after the deadline.
func TestSession_RunContextStopsMidBatch(t *testing.T) {
	rt := openTestRuntime(t)
	cfg := onnx.VGGConfig{Name: "slow", Size: 224, InChannels: 3, Blocks: [][]int{{64, 64}, {128, 128}}, Seed: 3}
	v, err := onnx.NewVGG(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slow.onnx")
	if err := onnx.WriteModel(path, v.Model); err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{
		Name: "slow", Path: path, Input: "data", Output: v.Feature.Name,
		Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
		Pre: model.TorchPreprocess(224), Pooling: model.GAP,
	}
	s, err := rt.NewSession(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const batch = 16 // about 150 GFLOP
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.RunContext(ctx, make([]float32, batch*3*224*224), batch)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	t.Logf("stopped %v after the run began (deadline 50ms)", time.Since(start).Round(time.Millisecond))
	// The session still works.
	if _, err := s.Run(make([]float32, 3*224*224), 1); err != nil {
		t.Fatalf("run after a stopped run: %v", err)
	}
}

// Cancelling Sources while an image is still decoding returns at once: a
// huge photo's decode must not hold up an interrupted run.
func TestExtractor_StopsWhileAnImageDecodes(t *testing.T) {
	rt := openTestRuntime(t)
	spec, _ := tinyVGG(t)
	ex, err := New(rt, spec, &Options{Raw: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	slow := Source{Path: "slow.png", Decode: func(*DecodeOptions) (*RGB, Info, error) {
		close(started)
		<-release
		return nil, Info{}, errors.New("released")
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ex.Sources(ctx, []Source{slow}, func(Result) error { return nil })
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sources waited for the decode after its context was cancelled")
	}
}

package model

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
)

// vggShaped is a VGG-shaped network at 224×224 with the blocks of cfg but
// 4 channels everywhere except the last convolution's 512, so its last
// max-pool is 512×7×7 as in the real model, and a 16-1000 classifier.
func vggShaped(cfg onnx.VGGConfig) onnx.VGGConfig {
	c := onnx.VGGConfig{Size: 224, InChannels: 3, Dense: []int{16, 1000}, Seed: 5}
	for _, b := range cfg.Blocks {
		c.Blocks = append(c.Blocks, slices.Repeat([]int{4}, len(b)))
	}
	last := c.Blocks[len(c.Blocks)-1]
	last[len(last)-1] = 512
	return c
}

// vgg19StandIn is a small model laid out as the zoo's opset-7 vgg19-7:
// every weight also a graph input, batch fixed to 1, a Softmax as the only
// output.
func vgg19StandIn(t *testing.T) []byte {
	t.Helper()
	c := vggShaped(onnx.VGG19Config(true))
	v, err := onnx.NewVGG(c)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Model
	m.IrVersion, m.OpsetImport[0].Version = proto.Int64(3), proto.Int64(7)
	g := m.GetGraph()
	for _, w := range g.GetInitializer() {
		g.Input = append(g.Input, onnx.TensorValueInfo(w.GetName(), w.GetDims()...))
	}
	g.Node = append(g.Node, onnx.Node("Softmax", []string{"predictions"}, "prob"))
	g.Output = []*onnxpb.ValueInfoProto{onnx.TensorValueInfo("prob", 1, 1000)}
	g.Input[0] = onnx.TensorValueInfo("data", 1, 3, 224, 224)
	b, err := onnx.EncodeModel(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vgg16Int8StandIn is a small model quantized as the zoo's vgg16-12-int8:
// QLinearConv, MaxPool on uint8, QLinearMatMul, logits dequantized.
func vgg16Int8StandIn(t *testing.T) []byte {
	t.Helper()
	q, err := onnxtest.QuantizedVGG(vggShaped(onnx.VGG16Config(true)), onnxtest.IntegerDense)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.EncodeModel(q.Model)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// standIn is the catalog entry name with its download replaced by b.
func standIn(t *testing.T, name string, b []byte, url string) Entry {
	t.Helper()
	e, ok := Lookup(name)
	if !ok || e.URL == "" {
		t.Fatalf("%s is not a downloaded catalog model", name)
	}
	e.URL, e.Size, e.SHA256 = url, int64(len(b)), sha256Hex(b)
	return e
}

// checkZoo checks an installed zoo model: the 512×7×7 feature, the
// ImageNet classifier recorded, the edited file as the spec says.
func checkZoo(t *testing.T, dir string, s Spec, feature, logits string) {
	t.Helper()
	if got, want := dirFiles(t, dir), []string{s.Name + ".json", s.Name + ".onnx"}; !slices.Equal(got, want) {
		t.Errorf("files in the cache = %q, want %q", got, want)
	}
	if s.Output != feature || s.Channels != 512 || s.GridH != 7 || s.GridW != 7 || s.Input != "data" {
		t.Errorf("spec: input %s, output %s %d×%d×%d; want data, %s 512×7×7", s.Input, s.Output, s.Channels, s.GridH, s.GridW, feature)
	}
	if s.Logits != logits || s.Classes != 1000 || s.Labels != LabelsImageNet {
		t.Errorf("spec: logits %q, %d classes, labels %q; want %s, 1000, %s", s.Logits, s.Classes, s.Labels, logits, LabelsImageNet)
	}
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
	m, err := onnx.ReadModel(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if names := outputNames(m); !slices.Contains(names, feature) || !slices.Contains(names, logits) {
		t.Errorf("outputs = %q, want %s and %s among them", names, feature, logits)
	}
}

func TestPull_ZooModels(t *testing.T) {
	for _, tt := range []struct {
		name, feature, logits string
		file                  func(*testing.T) []byte
	}{
		{"vgg19", "block5_pool", "predictions", vgg19StandIn},
		{"vgg16-int8", "block5_pool_dequantized", "predictions", vgg16Int8StandIn},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.file(t)
			// The first request is cut after a third, as in
			// TestPull_ResumeAfterCut: the second must resume.
			var mu sync.Mutex
			var ranges []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				first := len(ranges) == 1
				mu.Unlock()
				if first {
					w.Header().Set("Content-Length", "999999999")
					w.WriteHeader(http.StatusOK)
					w.Write(b[:len(b)/3])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler)
				}
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
			}))
			defer srv.Close()
			dir := t.TempDir()
			e := standIn(t, tt.name, b, srv.URL)
			opts := &PullOptions{Client: srv.Client()}
			if _, err := Pull(context.Background(), e, dir, opts); err == nil {
				t.Fatal("pull over a cut connection succeeded")
			}
			s, err := Pull(context.Background(), e, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(ranges) != 2 || ranges[1] == "" {
				t.Errorf("requests carried Range %q, want the second to resume", ranges)
			}
			checkZoo(t, dir, s, tt.feature, tt.logits)

			// A corrupted download is refused and leaves nothing.
			bad := slices.Clone(b)
			bad[len(bad)/2] ^= 0xff
			srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bad) }))
			defer srv2.Close()
			dir2 := t.TempDir()
			if _, err := Pull(context.Background(), standIn(t, tt.name, b, srv2.URL), dir2, &PullOptions{Client: srv2.Client()}); !errors.Is(err, ErrChecksum) {
				t.Errorf("corrupted download: err = %v, want ErrChecksum", err)
			}
			if got := dirFiles(t, dir2); len(got) != 0 {
				t.Errorf("files left after a bad download: %q", got)
			}
		})
	}
}

func TestPull_FromFile(t *testing.T) {
	b := vgg19StandIn(t)
	src := filepath.Join(t.TempDir(), "vgg19-7.onnx")
	if err := os.WriteFile(src, b, 0o444); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	untouched := func() {
		t.Helper()
		after, err := os.Stat(src)
		if err != nil {
			t.Fatalf("the user's file is gone: %v", err)
		}
		got, _ := os.ReadFile(src)
		if !bytes.Equal(got, b) || !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
			t.Error("the user's file was modified")
		}
	}
	// Nothing listens at the URL: the file alone must be enough.
	e := standIn(t, "vgg19", b, "http://127.0.0.1:1/vgg19-7.onnx")
	dir := t.TempDir()
	s, err := Pull(context.Background(), e, dir, &PullOptions{File: src})
	if err != nil {
		t.Fatal(err)
	}
	checkZoo(t, dir, s, "block5_pool", "predictions")
	untouched()

	// A file that is not the catalog's is refused, and nothing installed.
	other := standIn(t, "vgg19", b, e.URL)
	other.SHA256 = sha256Hex([]byte("another file"))
	dir2 := t.TempDir()
	_, err = Pull(context.Background(), other, dir2, &PullOptions{File: src})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), src) {
		t.Errorf("err = %v, want ErrChecksum naming %s", err, src)
	}
	if got := dirFiles(t, dir2); len(got) != 0 {
		t.Errorf("files left after a refused file: %q", got)
	}
	short := standIn(t, "vgg19", b, e.URL)
	short.Size++
	if _, err := Pull(context.Background(), short, dir2, &PullOptions{File: src}); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong size: err = %v, want ErrChecksum", err)
	}
	untouched()

	// A random model is built here: there is no file to install.
	r, _ := Lookup("vgg19-random")
	if _, err := Pull(context.Background(), r, t.TempDir(), &PullOptions{File: src}); !errors.Is(err, ErrSpec) {
		t.Errorf("vgg19-random from a file: err = %v, want ErrSpec", err)
	}
}

func TestPull_FromMirror(t *testing.T) {
	b := vgg16Int8StandIn(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mirror/vgg16-12-int8.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	e := standIn(t, "vgg16-int8", b, "http://127.0.0.1:1/unreachable.onnx")
	dir := t.TempDir()
	s, err := Pull(context.Background(), e, dir, &PullOptions{Client: srv.Client(), URL: srv.URL + "/mirror/vgg16-12-int8.onnx"})
	if err != nil {
		t.Fatal(err)
	}
	checkZoo(t, dir, s, "block5_pool_dequantized", "predictions")
}

func TestCatalog_Entries(t *testing.T) {
	for _, tt := range []struct {
		name   string
		url    string
		size   int64
		random bool
	}{
		{"vgg16", "/vgg16-12.onnx", 553_437_752, false},
		{"vgg16-random", "", 0, true},
		{"vgg19", "/vgg19-7.onnx", 574_677_321, false},
		{"vgg19-random", "", 0, true},
		{"vgg16-int8", "/vgg16-12-int8.onnx", 138_407_238, false},
	} {
		e, ok := Lookup(tt.name)
		if !ok {
			t.Errorf("%s not in the catalog", tt.name)
			continue
		}
		if !strings.HasSuffix(e.URL, tt.url) || (tt.url == "") != (e.URL == "") || e.Size != tt.size || (e.SHA256 == "") != tt.random {
			t.Errorf("%s: url %q size %d sha256 %q", tt.name, e.URL, e.Size, e.SHA256)
		}
		if e.Spec.Random != tt.random || tt.random && !strings.Contains(e.Description, RandomDescription) {
			t.Errorf("%s: random %v, description %q", tt.name, e.Spec.Random, e.Description)
		}
		if !tt.random && (e.Spec.Classes != 1000 || e.Spec.Labels != LabelsImageNet) {
			t.Errorf("%s: expects %d classes %q, want the 1000 ImageNet classes", tt.name, e.Spec.Classes, e.Spec.Labels)
		}
		if e.Spec.Name != e.Name || e.Spec.Channels != 512 || e.Spec.GridH != 7 || e.Spec.Pre.Size != 224 {
			t.Errorf("%s: spec %+v", tt.name, e.Spec)
		}
	}
	if _, err := BuildRandom(t.TempDir(), Entry{Name: "vgg16", Spec: Spec{Name: "vgg16"}}); !errors.Is(err, ErrSpec) {
		t.Errorf("BuildRandom(vgg16): err = %v, want ErrSpec", err)
	}
}

func TestPull_VGG19Random(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vgg19-random (80 MB)")
	}
	e, _ := Lookup("vgg19-random")
	dir := t.TempDir()
	s, err := Pull(context.Background(), e, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Random || s.Output != "block5_pool" || s.Channels != 512 || s.GridH != 7 || s.GridW != 7 || s.Logits != "" || s.Classes != 0 {
		t.Errorf("vgg19-random spec = %+v", s)
	}
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
	var table bytes.Buffer
	if err := Describe(&table, s.Path); err != nil {
		t.Fatal(err)
	}
	if got := table.String(); !strings.Contains(got, "20,024,384") || strings.Count(got, "Conv") != 16 {
		t.Errorf("layer table lacks the 16 convolutions or 20,024,384 parameters:\n%s", got)
	}
}

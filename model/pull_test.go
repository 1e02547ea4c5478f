package model

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/onnx"
)

// tinyEntry is a catalog entry for the zoo-style tiny model served at url.
func tinyEntry(b []byte, url string) Entry {
	return Entry{
		Name: "tiny", URL: url, Size: int64(len(b)), SHA256: sha256Hex(b),
		Spec: Spec{Name: "tiny", Input: "data", Channels: 8, GridH: 8, GridW: 8, Pre: TorchPreprocess(32), Pooling: MAC, Threshold: 0.9},
	}
}

// dirFiles lists the names in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// checkInstalled checks that the tiny model is installed with its
// feature map exposed and nothing else left in dir.
func checkInstalled(t *testing.T, dir string, s Spec) {
	t.Helper()
	if got, want := dirFiles(t, dir), []string{"tiny.json", "tiny.onnx"}; !slices.Equal(got, want) {
		t.Errorf("files in the cache = %q, want %q", got, want)
	}
	if s.Output != "block2_pool" || s.Channels != 8 || s.GridH != 8 || s.GridW != 8 {
		t.Errorf("spec output %q %d×%d×%d, want block2_pool 8×8×8", s.Output, s.Channels, s.GridH, s.GridW)
	}
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
	m, err := onnx.ReadModel(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := outputNames(m); !slices.Equal(got, []string{"predictions", "block2_pool"}) {
		t.Errorf("outputs = %q, want the classifier and block2_pool", got)
	}
	loaded, err := Load(dir, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.SHA256 != s.SHA256 || loaded.Path != s.Path {
		t.Errorf("Load = %+v, want %+v", loaded, s)
	}
}

func TestPull_Full(t *testing.T) {
	b := tinyZooBytes(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	defer srv.Close()
	dir := t.TempDir()
	var calls [][2]int64
	s, err := Pull(context.Background(), tinyEntry(b, srv.URL), dir, &PullOptions{
		Client:   srv.Client(),
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dir, s)
	if len(calls) < 2 || calls[len(calls)-1] != [2]int64{int64(len(b)), int64(len(b))} {
		t.Errorf("progress calls end with %v, want done = total = %d", calls[len(calls)-1:], len(b))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("progress went backwards: %v then %v", calls[i-1], calls[i])
		}
	}
}

func TestPull_ResumeAfterCut(t *testing.T) {
	b := tinyZooBytes(t)
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first {
			// Promise the whole file, send a third, then drop the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:len(b)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	defer srv.Close()
	dir := t.TempDir()
	e := tinyEntry(b, srv.URL)
	opts := &PullOptions{Client: srv.Client()}
	if _, err := Pull(context.Background(), e, dir, opts); err == nil {
		t.Fatal("first pull succeeded over a cut connection")
	}
	part, err := os.Stat(filepath.Join(dir, "tiny.onnx.part"))
	if err != nil {
		t.Fatalf("no partial file kept after the cut: %v", err)
	}
	if part.Size() != int64(len(b)/3) {
		t.Errorf("partial file has %d bytes, want %d", part.Size(), len(b)/3)
	}
	var firstDone int64 = -1
	opts.Progress = func(done, total int64) {
		if firstDone < 0 {
			firstDone = done
		}
	}
	s, err := Pull(context.Background(), e, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dir, s)
	if want := "bytes=" + strconv.Itoa(len(b)/3) + "-"; len(ranges) != 2 || ranges[1] != want {
		t.Errorf("requests carried Range %q, want the second to ask for %q", ranges, want)
	}
	if firstDone != int64(len(b)/3) {
		t.Errorf("resumed progress starts at %d, want %d", firstDone, len(b)/3)
	}
}

func TestPull_ServerIgnoresRange(t *testing.T) {
	b := tinyZooBytes(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(b) // 200 with the whole file, whatever the Range says
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tiny.onnx.part"), b[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Pull(context.Background(), tinyEntry(b, srv.URL), dir, &PullOptions{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dir, s)
}

func TestPull_RangeNotSatisfiable(t *testing.T) {
	b := tinyZooBytes(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tiny.onnx.part"), b[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Pull(context.Background(), tinyEntry(b, srv.URL), dir, &PullOptions{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dir, s)
}

func TestPull_ChecksumMismatch(t *testing.T) {
	b := tinyZooBytes(t)
	tests := []struct {
		name  string
		serve []byte
	}{
		{"corrupted byte", append(append([]byte{}, b[:len(b)-1]...), b[len(b)-1]^0xff)},
		{"short file", b[:len(b)-10]},
		{"long file", append(slices.Clone(b), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(tt.serve)
			}))
			defer srv.Close()
			dir := t.TempDir()
			_, err := Pull(context.Background(), tinyEntry(b, srv.URL), dir, &PullOptions{Client: srv.Client()})
			if !errors.Is(err, ErrChecksum) {
				t.Errorf("err = %v, want ErrChecksum", err)
			}
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files left in the cache: %q", got)
			}
		})
	}
}

func TestPull_ServerErrors(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError, http.StatusForbidden} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", code)
			}))
			defer srv.Close()
			dir := t.TempDir()
			_, err := Pull(context.Background(), tinyEntry([]byte("x"), srv.URL+"/vgg16-12.onnx"), dir, &PullOptions{Client: srv.Client()})
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("err = %v, want a StatusError with code %d", err, code)
			}
			for _, want := range []string{strconv.Itoa(code), "/vgg16-12.onnx", "tiny"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if errors.Is(err, ErrOffline) {
				t.Error("a server that answered is not offline")
			}
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files left in the cache: %q", got)
			}
		})
	}
}

func TestPull_Offline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	dir := t.TempDir()
	e := tinyEntry([]byte("x"), "http://"+addr+"/vgg16-12.onnx")
	_, err = Pull(context.Background(), e, dir, nil)
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("err = %v, want ErrOffline", err)
	}
	for _, want := range []string{"tiny.onnx.part", "register"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say how to install without network (%q)", err, want)
		}
	}

	// The hint works: a complete file copied by hand installs offline.
	b := tinyZooBytes(t)
	if err := os.WriteFile(filepath.Join(dir, "tiny.onnx.part"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Pull(context.Background(), tinyEntry(b, e.URL), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dir, s)
}

func TestPull_AlreadyInstalledAndRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vgg16-random (59 MB)")
	}
	dir := t.TempDir()
	e, ok := Lookup("vgg16-random")
	if !ok {
		t.Fatal("vgg16-random not in the catalog")
	}
	s, err := Pull(context.Background(), e, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Random || s.Output != "block5_pool" || s.Channels != 512 || s.GridH != 7 || !strings.Contains(s.Description, RandomDescription) {
		t.Errorf("vgg16-random spec = %+v", s)
	}
	// internal/onnx pins the bytes of vgg16-random; here the spec must
	// name the file it installed.
	if b, err := os.ReadFile(s.Path); err != nil || sha256Hex(b) != s.SHA256 {
		t.Errorf("installed vgg16-random: spec sha256 %s does not match %s (%v)", s.SHA256, s.Path, err)
	}
	again, err := Pull(context.Background(), e, dir, nil)
	if err != nil || again.SHA256 != s.SHA256 {
		t.Errorf("second pull = %v, %v; want the installed model", again.SHA256, err)
	}
}

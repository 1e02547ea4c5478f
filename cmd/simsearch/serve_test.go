package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/simsearch/simsearch"
)

// serve prints its URL, answers on it beside nothing else holding the
// database, and stops when its context ends (a signal, in main) with the
// interrupted error that main turns into exit status 130.
func TestServe_AnswersThenStops(t *testing.T) {
	models := modelsDir(t)
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cat.jpg", "dahlia.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(photos, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"SIMSEARCH_MODELS": models, simsearch.Int8Env: "off", "SIMSEARCH_ORT_LIB": os.Getenv("SIMSEARCH_ORT_LIB"),
		"SIMSEARCH_DB": filepath.Join(dir, "db", "s.db"), "HOME": dir, "XDG_DATA_HOME": filepath.Join(dir, "share"),
	}
	getenv := func(k string) string { return env[k] }
	if err := run(context.Background(), []string{"simsearch", "index", "--quiet", photos}, io.Discard, io.Discard, getenv); err != nil {
		t.Fatal(err)
	}
	db := env["SIMSEARCH_DB"]
	// The default keeps thumbnails beside the database; --thumbnails off
	// writes none; --thumbnails DIR keeps them there.
	own := filepath.Join(dir, "thumbs")
	for _, tc := range []struct {
		args      []string
		wantFiles string // the folder that must hold the thumbnail, "" none
	}{
		{nil, db + ".thumbs"},
		{[]string{"--thumbnails", "off"}, ""},
		{[]string{"--thumbnails", own}, own},
	} {
		os.RemoveAll(db + ".thumbs")
		serveOnce(t, getenv, tc.args, func(url string) {
			res, err := http.Get(url + "api/v1/stats")
			if err != nil {
				t.Fatal(err)
			}
			var st struct {
				Items int `json:"items"`
			}
			err = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 || st.Items != 2 {
				t.Fatalf("GET stats: %d, %+v, %v; want 2 items", res.StatusCode, st, err)
			}
			res, err = http.Get(url + "api/v1/items/1/thumbnail")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("GET a thumbnail: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
		for _, d := range []string{db + ".thumbs", own} {
			files, _ := os.ReadDir(d)
			if want := d == tc.wantFiles; want != (len(files) > 0) {
				t.Errorf("serve %q: %s holds %d files; want thumbnails there: %t", tc.args, d, len(files), want)
			}
		}
	}
}

// serveOnce runs serve with args on a free loopback port, calls fn with
// its URL, then ends its context as a signal would and checks that it
// stopped with the interrupted error that main turns into exit status 130.
func serveOnce(t *testing.T, getenv func(string) string, args []string, fn func(url string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"simsearch", "serve", "--addr", "127.0.0.1:0"}, args...), w, io.Discard, getenv)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q: %v (%v)", line, err, <-done)
	}
	go io.Copy(io.Discard, out)
	m := regexp.MustCompile(`^serving .*s\.db at (http://127\.0\.0\.1:\d+/)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve printed %q; want the database and its URL", line)
	}
	fn(m[1])
	cancel()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("serve after its context ended: %v, want the interrupted error", err)
	}
	if _, err := http.Get(m[1] + "healthz"); err == nil {
		t.Error("still answering after it stopped")
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// model pull reports the bytes of its download through --progress: plain
// lines in sizes of the expected total, nothing with none. The server
// sends 1 MiB of what should be vgg19's 548 MiB, so the pull then fails
// its size check, after the lines.
func TestModelPull_Progress(t *testing.T) {
	body := make([]byte, 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	defer srv.Close()
	pull := func(mode string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := []string{"simsearch", "--models-dir", t.TempDir(), "model", "pull", "vgg19",
			"--from", srv.URL + "/vgg19-7.onnx", "--progress", mode, "--progress-every", "1ns"}
		err := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "pull vgg19") {
			t.Fatalf("pull of a cut download: %v, want its verification error", err)
		}
		return stderr.String()
	}
	got := pull("plain")
	if !regexp.MustCompile(`(?m)^download vgg19: +0% 0 B/548\.1 MiB `).MatchString(got) ||
		!regexp.MustCompile(`(?m)^download vgg19: +0% 1\.0 MiB/548\.1 MiB \S+ \S*B/s ETA \S+ \(\d+s elapsed\)$`).MatchString(got) {
		t.Errorf("--progress plain wrote %q, want lines from 0 B to 1.0 MiB of 548.1 MiB", got)
	}
	if got := pull("none"); strings.Contains(got, "download vgg19:") {
		t.Errorf("--progress none wrote %q", got)
	}
}

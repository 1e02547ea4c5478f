package simsearch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"testing"

	"github.com/simsearch/simsearch/extractor/imagetest"
)

// Decompression bombs of every format are refused from their headers: an
// index run over them, beside a real photo (so the network is loaded too),
// peaks under 500 MB of resident memory and exits 0.
func TestIndex_BombsPeakMemory(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	bin := buildCLI(t)
	dir := filepath.Join(t.TempDir(), "bombs")
	os.MkdirAll(dir, 0o755)
	for _, n := range []uint32{40000, 65000} {
		for format, b := range imagetest.HugeHeaders(n) {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("bomb%d.%s", n, format)), b, 0o644)
		}
	}
	cat, err := os.ReadFile("testdata/photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cat.jpg"), cat, 0o644)

	cmd := exec.Command(bin, "--db", filepath.Join(t.TempDir(), "s.db"), "--model", "vgg16-random", "index", dir)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	rss, err := runPeakRSS(cmd)
	out := buf.Bytes()
	if err != nil {
		t.Fatalf("index: %v\n%s", err, out)
	}
	// WebP cannot declare more than 16384 pixels a side, so its 65000
	// header is refused as corrupt; all others as too large.
	if n := strings.Count(string(out), "skipped "+dir+"/bomb"); n != 12 {
		t.Errorf("%d bombs skipped, want 12:\n%s", n, out)
	}
	if n := strings.Count(string(out), "image too large"); n < 11 {
		t.Errorf("%d bombs refused as too large, want 11 or 12:\n%s", n, out)
	}
	if !strings.Contains(string(out), "1 added") {
		t.Errorf("the real photo was not added:\n%s", out)
	}
	t.Logf("peak RSS %d MiB", rss>>20)
	if rss > 500<<20 {
		t.Errorf("peak RSS %d MiB over bombs, want under 500 MiB", rss>>20)
	}
}

// runPeakRSS runs cmd and returns the most resident memory it was seen to
// use (VmHWM, sampled every 5 ms until it exits). Not the child's
// rusage: Linux carries the parent's peak into a child started with vfork,
// as os/exec does, so a test process holding a model would be measured
// instead of the command.
func runPeakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if hwm := vmHWM(status); hwm > peak {
			peak = hwm
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

// vmHWM reads the VmHWM line of a /proc status file, in bytes; 0 when the
// process is gone.
func vmHWM(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

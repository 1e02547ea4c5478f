package simsearch

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLI_IndexWatch runs `simsearch index --watch` as users do: a photo
// copied in shows up in query results, a deleted one leaves them, and
// SIGTERM ends the watcher with status 130 and everything committed.
func TestCLI_IndexWatch(t *testing.T) {
	bin := cliWithModel(t)
	sample := filepath.Join("testdata", "photos")
	dir := filepath.Join(t.TempDir(), "photos")
	copyFile(t, filepath.Join(sample, "cat.jpg"), filepath.Join(dir, "cat.jpg"))
	db := filepath.Join(t.TempDir(), "photos.db")
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	cli := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--db", db, "--model", "vgg16-random", "--threads", "1"}, args...)...)
		cmd.Env = env
		return cmd
	}
	watcher := cli(context.Background(), "index", "--watch", "--settle", "200ms", dir)
	stderr, err := watcher.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watcher.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	waitLine := func(prefix string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watcher ended before %q; it wrote:\n%s", prefix, strings.Join(log, "\n"))
				}
				log = append(log, l)
				if strings.Contains(l, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the watcher in 60 s; it wrote:\n%s", prefix, strings.Join(log, "\n"))
			}
		}
	}
	waitLine("watching 1 path for changes")

	// query polls until the results for q satisfy ok, returning how long
	// that took.
	query := func(q string, ok func([]string) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 60*time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := cli(ctx, "query", "--format", "paths", "-0", "-k", "50", "--exact", q).Output()
			cancel()
			if err != nil {
				t.Fatalf("query beside the watcher: %v", err)
			}
			paths := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if ok(paths) {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("query by %s never got there", q)
		return 0
	}
	added := filepath.Join(dir, "2024", "pagoda.jpg")
	copyFile(t, filepath.Join(sample, "pagoda.jpg"), added)
	lat := query(filepath.Join(sample, "pagoda.jpg"), func(p []string) bool { return len(p) > 0 && p[0] == added })
	t.Logf("watch latency, copy to query-visible: %s (settle 200ms, query polled every 20ms)", lat.Round(time.Millisecond))

	gone := filepath.Join(dir, "cat.jpg")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	query(filepath.Join(sample, "cat.jpg"), func(p []string) bool { return !slices.Contains(p, gone) && slices.Contains(p, added) })
	waitLine("1 removed")

	if err := watcher.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		log = append(log, l)
	}
	err = watcher.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("watcher after SIGTERM: %v, want exit status 130; it wrote:\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(log[len(log)-1], "everything committed") {
		t.Errorf("last line %q does not say the work is kept", log[len(log)-1])
	}
	out, err := cli(context.Background(), "stats").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "items") || !strings.Contains(strings.Join(strings.Fields(string(out)), " "), "items 1") {
		t.Errorf("stats after the watcher:\n%s\nwant 1 item", out)
	}
}

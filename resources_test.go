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
	"syscall"
	"testing"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/extractor/imagetest"
)

// Decompression bombs of every format are refused from their headers: an
// index run over them, beside a real photo (so the network is loaded too),
// peaks under 500 MB of resident memory and exits 0.
func TestIndex_BombsPeakMemory(t *testing.T) {
	bin := cliWithModel(t)
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

// A full disk stops `simsearch index` with a clear error, and the database
// it leaves opens, passes its checks and resumes once there is room. The
// database lives on a small tmpfs, which needs root (CAP_SYS_ADMIN).
func TestIndex_FullDisk(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=160k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	bin := buildCLI(t)
	photos := photoSet(t, 16, 1) // 160 KiB holds about half of them
	db := filepath.Join(small, "photos.db")
	cmd := exec.Command(bin, "--db", db, "--model", "vgg16-random", "index", "--quiet", photos)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("index on a full disk succeeded:\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"no space left on device", "hint: free space on the disk holding " + db} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	t.Logf("on a full disk:\n%s", out)
	items, _ := snapshotDB(t, db) // opens, bbolt check and invariants hold
	t.Logf("%d items committed before the disk filled", len(items))
	if want := fmt.Sprintf(": %d added", len(items)); !strings.Contains(string(out), want) {
		t.Errorf("summary does not count the %d committed items as added (%q)", len(items), want)
	}

	// With room again (the file moved to a roomy disk), the run resumes.
	roomy := filepath.Join(t.TempDir(), "photos.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roomy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "--db", roomy, "--model", "vgg16-random", "index", photos)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("index with room again: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d unchanged", len(items)); !strings.Contains(string(out), want) {
		t.Errorf("resumed run does not keep the %d committed items (%q):\n%s", len(items), want, out)
	}
}

// A directory that cannot be read is skipped with its reason and the rest
// indexed. Root reads every directory, so as root the command runs as
// nobody (the hostile-folder test covers this as any other user).
func TestIndex_UnreadableDirectoryAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs the command as nobody, which needs root; TestEngine_HostileFolder covers it otherwise")
	}
	rt := openRuntime(t)
	randomModel(t, rt)
	bin := buildCLI(t)
	// Everything nobody needs, in a directory nobody can enter.
	dir, err := os.MkdirTemp("", "simsearch-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "photos", "locked"), 0o755); os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	cp := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	cp(bin, filepath.Join(dir, "simsearch"), 0o755)
	ents, err := os.ReadDir(testModels.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() { // the graph cache: nobody makes their own
			continue
		}
		cp(filepath.Join(testModels.dir, e.Name()), filepath.Join(dir, "models", e.Name()), 0o644)
	}
	cp("testdata/photos/cat.jpg", filepath.Join(dir, "photos", "cat.jpg"), 0o644)
	cp("testdata/photos/cat.jpg", filepath.Join(dir, "photos", "locked", "cat.jpg"), 0o644)
	os.Chmod(filepath.Join(dir, "photos", "locked"), 0)
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	os.Chown(filepath.Join(dir, "db"), 65534, 65534)

	cmd := exec.Command(filepath.Join(dir, "simsearch"), "--db", filepath.Join(dir, "db", "s.db"), "--model", "vgg16-random", "index", filepath.Join(dir, "photos"))
	env := append(os.Environ(), "SIMSEARCH_MODELS="+filepath.Join(dir, "models"))
	if lib := os.Getenv(extractor.LibraryEnv); lib != "" { // the checkout may be out of nobody's reach
		cp(lib, filepath.Join(dir, "lib", filepath.Base(lib)), 0o644)
		env = append(env, extractor.LibraryEnv+"="+filepath.Join(dir, "lib", filepath.Base(lib)))
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("index as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"skipped " + filepath.Join(dir, "photos", "locked") + ": cannot read: permission denied", "1 added", "1 skipped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

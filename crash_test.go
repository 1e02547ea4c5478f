package simsearch

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simsearch/simsearch/store"
)

// buildCLI builds bin/simsearch into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "simsearch")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/simsearch")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// snapshotDB reads every item and vector of the database at path.
func snapshotDB(t *testing.T, path string) (map[string]store.Item, map[string][]float32) {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if problems, err := db.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
	items := map[string]store.Item{}
	byID := map[uint64]string{}
	if err := db.ForEachItem(func(it store.Item) error {
		items[it.Path] = it
		byID[it.ID] = it.Path
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	vecs := map[string][]float32{}
	if err := db.ForEachVector(func(id uint64, v []float32) error {
		p, ok := byID[id]
		if !ok {
			return fmt.Errorf("vector %d has no item", id)
		}
		vecs[p] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(items) {
		t.Fatalf("%d vectors for %d items", len(vecs), len(items))
	}
	return items, vecs
}

// Killing `simsearch index` at random moments never costs more than the
// batch in flight: after every kill the database opens and its invariants
// hold, and the run that finally completes ends with the same items and
// vectors as an uninterrupted run.
func TestIndex_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: make test-long")
	}
	rt := openRuntime(t)
	randomModel(t, rt)
	bin := buildCLI(t)
	// A few hundred photos: the samples copied under several names.
	photos := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(photos, 0o755)
	paths, _ := samplePhotos(t)
	for r := 0; r < 6; r++ {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(photos, fmt.Sprintf("%d-%s", r, filepath.Base(p))), b, 0o644)
		}
	}
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	index := func(db string) *exec.Cmd {
		cmd := exec.Command(bin, "--db", db, "--model", "vgg16-random", "index", "--quiet", photos)
		cmd.Env = env
		return cmd
	}

	clean := filepath.Join(t.TempDir(), "clean.db")
	if out, err := index(clean).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	wantItems, wantVecs := snapshotDB(t, clean)

	killed := filepath.Join(t.TempDir(), "killed.db")
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		cmd := index(killed)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(500+r.IntN(5000)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		items, _ := snapshotDB(t, killed) // opens, checks invariants
		t.Logf("round %d: %d items committed", round, len(items))
	}
	if out, err := index(killed).CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	gotItems, gotVecs := snapshotDB(t, killed)
	if len(gotItems) != len(wantItems) {
		t.Fatalf("after the kills: %d items, uninterrupted: %d", len(gotItems), len(wantItems))
	}
	for p, w := range wantItems {
		g, ok := gotItems[p]
		if !ok || g.Hash != w.Hash || g.Size != w.Size {
			t.Errorf("%s: differs after the kills (%v)", p, ok)
			continue
		}
		var d float64
		for i := range wantVecs[p] {
			d = math.Max(d, math.Abs(float64(wantVecs[p][i]-gotVecs[p][i])))
		}
		if d > 1e-4 {
			t.Errorf("%s: vector differs by %g", p, d)
		}
	}
	// And the engine opens it and its index covers exactly the items.
	e, err := Open(context.Background(), &Options{DB: killed, ModelsDir: testModels.dir, Model: "vgg16-random"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if problems, err := e.Check(false); err != nil || len(problems) > 0 {
		t.Fatalf("engine check: %v %v", problems, err)
	}
}

// SIGTERM (and SIGINT, the same path) stops `simsearch index` within one
// batch: it exits 130, says so, and leaves a database whose index
// snapshot covers what was committed, so the next run resumes.
func TestIndex_SIGTERMStopsCleanly(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	bin := buildCLI(t)
	photos := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(photos, 0o755)
	paths, _ := samplePhotos(t)
	for r := 0; r < 3; r++ {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(photos, fmt.Sprintf("%d-%s", r, filepath.Base(p))), b, 0o644)
		}
	}
	db := filepath.Join(t.TempDir(), "photos.db")
	cmd := exec.Command(bin, "--db", db, "--model", "vgg16-random", "index", "--quiet", photos)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the first commit, then stop it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n := committedItems(db); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("nothing committed in 2 minutes\n%s", stderr.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("still running a minute after SIGTERM\n%s", stderr.Bytes())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d after SIGTERM, want 130\n%s", code, stderr.Bytes())
	}
	if !strings.Contains(stderr.String(), "interrupted; everything committed so far is kept") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr.Bytes())
	}
	items, _ := snapshotDB(t, db) // the lock is free, the file checks out
	if len(items) == 0 || len(items) >= 3*len(paths) {
		t.Errorf("%d items after SIGTERM; want some but not all of %d", len(items), 3*len(paths))
	}
	s, err := store.Open(db, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Meta()
	s.Close()
	if err != nil || !m.HasIndex || m.IndexVersion != m.ItemsVersion {
		t.Errorf("index snapshot after SIGTERM: %+v, %v; want one taken at the last commit", m, err)
	}
}

// committedItems is how many items the database at path holds now, 0 when
// it cannot be read yet.
func committedItems(path string) int {
	db, err := store.Open(path, &store.Options{ReadOnly: true, Timeout: -1})
	if err != nil {
		return 0
	}
	defer db.Close()
	n, _ := db.Len()
	return n
}

package simsearch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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

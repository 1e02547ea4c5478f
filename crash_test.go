package simsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/store"
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

// cliWithModel builds the CLI and vgg16-random, for tests that run the
// command as users do.
func cliWithModel(t *testing.T) string {
	t.Helper()
	rt := openRuntime(t)
	randomModel(t, rt)
	return buildCLI(t)
}

// photoSet copies the first n sample photos (all when n is 0) copies
// times, under names prefixed by the copy's number, into a new directory.
func photoSet(t *testing.T, n, copies int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(dir, 0o755)
	paths, _ := samplePhotos(t)
	if n > 0 {
		paths = paths[:n]
	}
	for r := 0; r < copies; r++ {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%s", r, filepath.Base(p))), b, 0o644)
		}
	}
	return dir
}

// snapshotDB reads every item and vector of the database at path.
func snapshotDB(t *testing.T, path string) (map[string]store.Item, map[string][]float32) {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if problems, err := db.Check(nil); err != nil || len(problems) > 0 {
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
	bin := cliWithModel(t)
	photos := photoSet(t, 0, 6) // a few hundred photos
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	index := func(db string, flags ...string) *exec.Cmd {
		cmd := exec.Command(bin, append(append([]string{"--db", db, "--model", "vgg16-random", "index"}, flags...), photos)...)
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
	e, err := Open(context.Background(), &Options{DB: killed, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if rep, err := e.Check(false); err != nil || !rep.OK() {
		t.Fatalf("engine check: %v %v", rep.Problems, err)
	}
}

// SIGINT and SIGTERM stop `simsearch index` within one batch: it exits
// 130, says so, and leaves a database whose index snapshot covers what was
// committed; the next run adds the rest and ends with every photo.
func TestIndex_StopsCleanlyOnSignal(t *testing.T) {
	bin := cliWithModel(t)
	photos := photoSet(t, 0, 3)
	paths, _ := samplePhotos(t)
	total := 3 * len(paths)
	index := func(db string, flags ...string) *exec.Cmd {
		cmd := exec.Command(bin, append(append([]string{"--db", db, "--model", "vgg16-random", "index"}, flags...), photos)...)
		cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
		return cmd
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "photos.db")
			cmd := index(db, "--quiet")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for the first commit, then stop it.
			deadline := time.Now().Add(2 * time.Minute)
			for committedItems(db) == 0 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("nothing committed in 2 minutes\n%s", stderr.Bytes())
				}
				time.Sleep(100 * time.Millisecond)
			}
			took := signalAndWait(t, cmd, sig)
			t.Logf("exited %v after %v, sent after the first commit", took.Round(time.Millisecond), sig)
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit code %d after %v, want 130\n%s", code, sig, stderr.Bytes())
			}
			if !strings.Contains(stderr.String(), "interrupted; everything committed so far is kept") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.Bytes())
			}
			items, _ := snapshotDB(t, db) // the lock is free, the file checks out
			if len(items) == 0 || len(items) >= total {
				t.Errorf("%d items after %v; want some but not all of %d", len(items), sig, total)
			}
			s, err := store.Open(db, &store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Meta()
			s.Close()
			if err != nil || !m.HasIndex || m.IndexVersion != m.ItemsVersion {
				t.Errorf("index snapshot after %v: %+v, %v; want one taken at the last commit", sig, m, err)
			}

			// The next run resumes: it adds only what was missing.
			out, err := index(db).CombinedOutput()
			if err != nil {
				t.Fatalf("run after %v: %v\n%s", sig, err, out)
			}
			want := fmt.Sprintf("%d added, 0 updated, 0 removed, %d unchanged", total-len(items), len(items))
			if !strings.Contains(string(out), want) {
				t.Errorf("run after %v does not say %q:\n%s", sig, want, out)
			}
			if after, _ := snapshotDB(t, db); len(after) != total {
				t.Errorf("%d items after the next run, want %d", len(after), total)
			}
		})
	}
}

// stopBound is how long a stopped command may take to exit. Stopping takes
// well under a second (the network is abandoned mid-batch); a command
// that waits for its batch or its decode to end takes seconds more, one
// that never looks at its context waits for ever.
const stopBound = 5 * time.Second

// signalAndWait sends sig to the running cmd and returns how long it took
// to exit, failing the test when that is over stopBound. One still running
// a minute later is killed.
func signalAndWait(t *testing.T, cmd *exec.Cmd, sig os.Signal) time.Duration {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v (it ended before the signal: nothing was stopped)", err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running a minute after %v", sig)
	}
	took := time.Since(start)
	if took > stopBound {
		t.Errorf("took %v to exit after %v, want under %v", took.Round(time.Millisecond), sig, stopBound)
	}
	return took
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

// treeHashes maps each file under dir (relative path) to its SHA-256.
func treeHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	return out
}

// countHashes counts the files of each content in the given trees.
func countHashes(trees ...map[string][32]byte) map[[32]byte]int {
	n := map[[32]byte]int{}
	for _, tr := range trees {
		for _, h := range tr {
			n[h]++
		}
	}
	return n
}

// Killing `dedup --action move --yes` at random moments never loses or
// doubles a photo: after each kill every file's content is present as
// often as before, between the photos and the move target; `undo` (or a
// rerun and then undoing both runs) gives back the original tree.
func TestDedupMove_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: make test-long")
	}
	bin := cliWithModel(t)
	root := t.TempDir()
	photos, dupes := filepath.Join(root, "photos"), filepath.Join(root, "dupes")
	paths, _ := samplePhotos(t)
	for i, p := range paths[:10] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 4; c++ { // an original and three exact copies
			dir := filepath.Join(photos, fmt.Sprintf("set%d", c))
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(p))), b, 0o644)
		}
	}
	original := treeHashes(t, photos)
	want := countHashes(original)
	db := filepath.Join(root, "photos.db")
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	simsearch := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--db", db, "--model", "vgg16-random"}, args...)...)
		cmd.Env = env
		return cmd
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := simsearch(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("simsearch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	sameCounts := func(when string) {
		t.Helper()
		got := countHashes(treeHashes(t, photos), treeHashes(t, dupes))
		for h, n := range want {
			if got[h] != n {
				t.Fatalf("%s: content %x is present %d times, want %d", when, h[:6], got[h], n)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d distinct contents, want %d", when, len(got), len(want))
		}
	}
	move := []string{"dedup", "--exact", "--action", "move", "--to", dupes, "--yes", photos}
	r := rand.New(rand.NewPCG(5, 6))
	killedMidway := 0
	for round := 0; round < 20; round++ {
		mustRun("index", "--quiet", photos)
		cmd := simsearch(move...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once its journal shows k files done: the moves take a
		// few milliseconds in all, too quick to hit with a timer.
		k := 1 + r.IntN(28)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
	watch:
		for {
			select {
			case <-exited:
				break watch
			default:
			}
			if journalDone(db+".journal") >= k {
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		moved := len(treeHashes(t, dupes))
		if moved > 0 && moved < 30 {
			killedMidway++
		}
		sameCounts(fmt.Sprintf("round %d, after the kill (%d files moved)", round, moved))
		if round%2 == 1 {
			// Finish the job first; then undo every run.
			mustRun(move...)
			sameCounts(fmt.Sprintf("round %d, after a rerun", round))
			if n := len(treeHashes(t, photos)); n != 10 {
				t.Fatalf("round %d: %d files left after the rerun, want the 10 keepers", round, n)
			}
		}
		// Undo runs, newest first, until none is left (a run killed before
		// its journal began, or a rerun with nothing to do, left none).
		undone := 0
		for {
			out, err := simsearch("dedup", "undo").CombinedOutput()
			if err != nil {
				if !strings.Contains(string(out), "no dedup run to undo") {
					t.Fatalf("round %d: undo: %v\n%s", round, err, out)
				}
				break
			}
			undone++
		}
		if moved > 0 && undone == 0 {
			t.Fatalf("round %d: %d files moved but no run to undo", round, moved)
		}
		got := treeHashes(t, photos)
		if len(got) != len(original) {
			t.Fatalf("round %d: %d files after undo, want %d", round, len(got), len(original))
		}
		for p, h := range original {
			if got[p] != h {
				t.Fatalf("round %d: %s not restored by undo", round, p)
			}
		}
		t.Logf("round %d: killed with %d of 30 copies moved; %d runs undone; restored", round, moved, undone)
	}
	if killedMidway == 0 {
		t.Errorf("no kill landed while files were being moved; the test did not test that")
	}
}

// Killing `dedup apply PLAN --yes` (a plan that deletes most copies to
// the trash and moves the others) at random moments never loses or
// doubles a photo: after each kill every content is held by as many files
// as before, between the photos, the move target and the trash (a file
// with two names counts once); undo, or a rerun and then undoing both
// runs, gives back the original tree and leaves the trash empty.
func TestDedupApply_SurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: make test-long")
	}
	bin := cliWithModel(t)
	root := t.TempDir()
	photos, dupes := filepath.Join(root, "photos"), filepath.Join(root, "dupes")
	trash := filepath.Join(root, "share", "Trash")
	paths, _ := samplePhotos(t)
	for i, p := range paths[:10] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 4; c++ { // an original and three exact copies
			dir := filepath.Join(photos, fmt.Sprintf("set%d", c))
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(p))), b, 0o644)
		}
	}
	original := treeHashes(t, photos)
	want := countHashes(original)
	db := filepath.Join(root, "photos.db")
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir, "XDG_DATA_HOME="+filepath.Join(root, "share"))
	simsearch := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--db", db, "--model", "vgg16-random"}, args...)...)
		cmd.Env = env
		return cmd
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := simsearch(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("simsearch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The plan: every third copy moves, the others go to the trash.
	plan := filepath.Join(root, "plan.json")
	mustRun("dedup", "--exact", "--action", "delete", "--plan", plan, photos)
	f, err := os.Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dedup.ReadPlan(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.To = dupes
	n := 0
	for _, g := range p.Groups {
		for i := range g.Members {
			if n++; n%3 == 0 {
				g.Members[i].Action = dedup.Move
			}
		}
	}
	if n != 30 {
		t.Fatalf("plan of %d copies, want 30", n)
	}
	var b bytes.Buffer
	if err := dedup.WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plan, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sameCounts := func(when string) {
		t.Helper()
		got := countHashes(inodeHashes(t, photos, dupes, filepath.Join(trash, "files")))
		if !maps.Equal(got, want) {
			t.Fatalf("%s: %d distinct contents held %v times, want %v", when, len(got), got, want)
		}
	}
	apply := []string{"dedup", "apply", plan, "--yes"}
	r := rand.New(rand.NewPCG(7, 8))
	killedMidway := 0
	for round := 0; round < 20; round++ {
		cmd := simsearch(apply...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once its journal shows k files done.
		k := 1 + r.IntN(28)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
	watch:
		for {
			select {
			case <-exited:
				break watch
			default:
			}
			if journalDone(db+".journal") >= k {
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		left := len(treeHashes(t, photos))
		if left > 10 && left < 40 {
			killedMidway++
		}
		sameCounts(fmt.Sprintf("round %d, after the kill (%d files left)", round, left))
		if round%2 == 1 {
			// Finish the job first; then undo every run.
			mustRun(apply...)
			sameCounts(fmt.Sprintf("round %d, after a rerun", round))
			if n := len(treeHashes(t, photos)); n != 10 {
				t.Fatalf("round %d: %d files left after the rerun, want the 10 keepers", round, n)
			}
		}
		undone := 0
		for {
			out, err := simsearch("dedup", "undo").CombinedOutput()
			if err != nil {
				if !strings.Contains(string(out), "no dedup run to undo") {
					t.Fatalf("round %d: undo: %v\n%s", round, err, out)
				}
				break
			}
			undone++
		}
		got := treeHashes(t, photos)
		if !maps.Equal(got, original) {
			t.Fatalf("round %d: undo left %d files, want the %d before, byte for byte", round, len(got), len(original))
		}
		for _, d := range []string{dupes, filepath.Join(trash, "files"), filepath.Join(trash, "info")} {
			if n := len(treeHashes(t, d)); n != 0 {
				t.Fatalf("round %d: %d files left in %s after undo", round, n, d)
			}
		}
		t.Logf("round %d: killed with %d of 40 files left; %d runs undone; restored", round, left, undone)
	}
	if killedMidway == 0 {
		t.Errorf("no kill landed while files were being moved; the test did not test that")
	}
}

// inodeHashes is the content hash of every file under dirs, once per
// file however many names (hard links) it has.
func inodeHashes(t *testing.T, dirs ...string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)] = sha256.Sum256(b)
			return nil
		})
	}
	return out
}

// journalDone counts the steps marked done in the dedup journals in dir
// that are not undone.
func journalDone(dir string) int {
	runs, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	n := 0
	for _, r := range runs {
		b, _ := os.ReadFile(r)
		n += bytes.Count(b, []byte(`"state":"done"`))
	}
	return n
}

// simsearchCmd runs the built CLI on db with vgg16-random; its stderr
// goes to stderr.
func simsearchCmd(bin, db string, stderr io.Writer, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"--db", db, "--model", "vgg16-random"}, args...)...)
	cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	cmd.Stderr = stderr
	return cmd
}

// watchedBuffer collects a running command's output for the test to read,
// and closes found once the output contains want.
type watchedBuffer struct {
	want  string
	found chan struct{}
	mu    sync.Mutex
	b     bytes.Buffer
}

func newWatchedBuffer(want string) *watchedBuffer {
	return &watchedBuffer{want: want, found: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := bytes.Contains(w.b.Bytes(), []byte(w.want))
	w.b.Write(p)
	if !had && bytes.Contains(w.b.Bytes(), []byte(w.want)) {
		close(w.found)
	}
	return len(p), nil
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// SIGTERM during a long `query` (images that are not indexed, each
// decoded and embedded in turn) exits 130 at once.
func TestQuery_StopsOnSIGTERM(t *testing.T) {
	bin := cliWithModel(t)
	db := filepath.Join(t.TempDir(), "photos.db")
	var stderr bytes.Buffer
	if err := simsearchCmd(bin, db, &stderr, "index", "--quiet", photoSet(t, 3, 1)).Run(); err != nil {
		t.Fatalf("index: %v\n%s", err, stderr.Bytes())
	}
	// 16-megapixel noise: each query decodes it for a few tenths of a
	// second, twenty of them take several seconds.
	big := filepath.Join(t.TempDir(), "noise.png")
	writeNoisePNG(t, big, 4000, 4000)
	args := []string{"query", "-k", "1"}
	for i := 0; i < 20; i++ {
		args = append(args, big)
	}
	log := newWatchedBuffer("random weights") // the engine is open
	cmd := simsearchCmd(bin, db, log, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-log.found:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the engine did not open in 2 minutes:\n%s", log)
	}
	// Let it get into its queries: the session is made, the first images
	// decoded and embedded.
	time.Sleep(time.Second)
	took := signalAndWait(t, cmd, syscall.SIGTERM)
	t.Logf("query exited %v after SIGTERM", took.Round(time.Millisecond))
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d after SIGTERM, want 130\n%s", code, log)
	}
	if !strings.Contains(log.String(), "context canceled") {
		t.Errorf("stderr does not say it was stopped:\n%s", log)
	}
}

// writeNoisePNG writes a w×h grey PNG of noise, quickly encoded.
func writeNoisePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(7, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.UintN(256))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// SIGTERM while `dedup PATH` indexes exits 130 at once and keeps what was
// committed. (Grouping a test-sized collection takes milliseconds, too
// quick to hit; TestFind_StopsWhenCancelled covers stopping it.)
func TestDedup_StopsOnSIGTERM(t *testing.T) {
	bin := cliWithModel(t)
	photos := photoSet(t, 0, 3)
	db := filepath.Join(t.TempDir(), "photos.db")
	var stderr bytes.Buffer
	cmd := simsearchCmd(bin, db, &stderr, "dedup", photos)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for committedItems(db) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("nothing committed in 2 minutes\n%s", stderr.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := signalAndWait(t, cmd, syscall.SIGTERM)
	t.Logf("dedup exited %v after SIGTERM, while indexing", took.Round(time.Millisecond))
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d after SIGTERM, want 130\n%s", code, stderr.Bytes())
	}
	if items, _ := snapshotDB(t, db); len(items) == 0 {
		t.Errorf("nothing kept after SIGTERM; the first commit was")
	}
}

// `query` and `embed` of a FIFO and of a link to /dev/zero named like
// photos fail at once with one line saying why; neither is opened for
// reading (it would block, or never end). query exits 1; embed skips
// them, as any bad file, and exits 0 with the rest embedded.
func TestCLI_FIFOAndDeviceFailAtOnce(t *testing.T) {
	bin := cliWithModel(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "photos.db")
	var stderr bytes.Buffer
	if err := simsearchCmd(bin, db, &stderr, "index", "--quiet", photoSet(t, 2, 1)).Run(); err != nil {
		t.Fatalf("index: %v\n%s", err, stderr.Bytes())
	}
	// The commands run in dir and name the files as a user would.
	const fifo, zero = "x.jpg", "zero.jpg"
	if err := syscall.Mkfifo(filepath.Join(dir, fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, zero)); err != nil {
		t.Fatal(err)
	}
	cat, err := filepath.Abs("testdata/photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	const notePrefix = "model vgg16-random: random weights"
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--db", db, "--model", "vgg16-random"}, args...)...)
		cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("simsearch %s: still running after 30 s", strings.Join(args, " "))
		}
		t.Logf("simsearch %s: exit %d in %v", strings.Join(args, " "), cmd.ProcessState.ExitCode(), time.Since(start).Round(time.Millisecond))
		// Without the notice every command prints, what is left is what
		// this one has to say.
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
			if !strings.HasPrefix(l, notePrefix) {
				lines = append(lines, l)
			}
		}
		return out.String(), strings.Join(lines, "\n"), cmd.ProcessState.ExitCode()
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, "not a regular file (named pipe)"},
		{zero, "not a regular file (link to a character device)"},
	} {
		_, errs, code := run("query", tt.path)
		t.Logf("  %s", errs)
		if code != 1 {
			t.Errorf("query %s: exit %d, want 1", tt.path, code)
		}
		if !strings.HasPrefix(errs, "simsearch: query "+tt.path+": ") || !strings.HasSuffix(errs, tt.want) || strings.Contains(errs, "\n") {
			t.Errorf("query %s said %q, want one line ending %q", tt.path, errs, tt.want)
		}
	}

	out, errs, code := run("embed", fifo, zero, cat)
	t.Logf("  %s", strings.ReplaceAll(errs, "\n", "\n  "))
	if code != 0 {
		t.Errorf("embed: exit %d, want 0 (bad files are skipped)", code)
	}
	if n := strings.Count(out, `"dims":512`); n != 1 {
		t.Errorf("embed printed %d embeddings, want 1 (cat.jpg)", n)
	}
	// Skips come in the order the files are done, then the count.
	want := []string{
		"2 of 3 files skipped",
		"skip " + fifo + ": read " + fifo + ": not a regular file (named pipe)",
		"skip " + zero + ": read " + zero + ": not a regular file (link to a character device)",
	}
	got := strings.Split(errs, "\n")
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("embed stderr:\n%s\nwant:\n%s", errs, strings.Join(want, "\n"))
	}
}

package simsearch

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// `query` while `index` runs in another process answers from what is
// committed, in seconds, and never sees a half-written item.
func TestQuery_WhileIndexRuns(t *testing.T) {
	bin := cliWithModel(t)
	photos := photoSet(t, 24, 1)
	paths, _ := samplePhotos(t)
	db := filepath.Join(t.TempDir(), "photos.db")
	env := append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
	run := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--db", db, "--model", "vgg16-random", "--threads", "1"}, args...)...)
		cmd.Env = env
		return cmd
	}
	// One network thread leaves the other core to the queries.
	indexer := run(context.Background(), "index", "--quiet", photos)
	if err := indexer.Start(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- indexer.Wait() }()
	t.Cleanup(func() { indexer.Process.Kill() })

	type result struct {
		Results []struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"results"`
	}
	var during []int // result counts of queries that ended while indexing went on
	seen := map[string]string{}
	var indexErr error
	running, partial := true, false
	// Query until a few answers came during the run, one of them partial.
	for running && (len(during) < 3 || !partial) {
		if _, err := os.Stat(db); err != nil {
			time.Sleep(50 * time.Millisecond)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			q := run(ctx, "query", "--format", "json", "-k", "1000", paths[0])
			var stderr []byte
			out, err := q.Output()
			cancel()
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			if err != nil {
				t.Fatalf("query while indexing: %v\n%s", err, stderr)
			}
			var res []result
			if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
				t.Fatalf("query output %q: %v", out, err)
			}
			for _, m := range res[0].Results {
				seen[m.Path] = m.SHA256
			}
			select {
			case indexErr = <-finished:
				running = false
				continue
			default:
			}
			n := len(res[0].Results)
			during = append(during, n)
			partial = partial || (n > 0 && n < 24)
		}
		select {
		case indexErr = <-finished:
			running = false
		default:
		}
	}
	if running {
		indexErr = <-finished
	}
	if indexErr != nil {
		t.Fatalf("index: %v", indexErr)
	}
	items, _ := snapshotDB(t, db)
	t.Logf("results of queries during the run: %v; %d items at the end", during, len(items))
	if len(during) < 2 {
		t.Fatalf("only %d queries ended while indexing ran; want at least 2", len(during))
	}
	if !partial {
		t.Errorf("no query saw a part of the collection (%v of %d): they did not answer from the committed batches", during, len(items))
	}
	for p, h := range seen {
		if it, ok := items[p]; !ok || it.Hash.String() != h {
			t.Errorf("a query returned %s (sha256 %s), which the finished database does not hold like that", p, h)
		}
	}
}

package simsearch

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

// Warm makes the model's session while Open loads the index, and the
// engine still answers from that index; without Warm the session waits
// for the first embedding.
func TestOpen_WarmMakesTheSession(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	photos := copyPhotos(t)
	for _, warm := range []bool{false, true} {
		e, err := Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, Warm: warm, ReadOnly: warm, Log: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		e.model.mu.Lock()
		ready := e.model.ex != nil
		e.model.mu.Unlock()
		if ready != warm {
			t.Errorf("Warm %t: session made by Open = %t", warm, ready)
		}
		if !warm {
			if _, err := e.Index(ctx, []string{photos}, nil); err != nil {
				t.Fatal(err)
			}
		} else if e.idx.Len() == 0 {
			t.Error("Warm open of an indexed database loaded an empty index")
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

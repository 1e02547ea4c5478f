package simsearch

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/simsearch/simsearch/index"
)

// TestEngine_IndexIsTuned: an index run measures the search breadth at the
// collection's size and the snapshot keeps it across a read-only reopen.
// (That Search at ef 0 uses it is index's TestTuneReachesTargetOnFreshQueries.)
func TestEngine_IndexIsTuned(t *testing.T) {
	photos := copyPhotos(t)
	db := filepath.Join(t.TempDir(), "s.db")
	e := openTestEngine(t, db)
	ctx := context.Background()
	sum, err := e.Index(ctx, []string{photos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	tu := st.IndexTuning
	if tu.Size != sum.Added || tu.Ef < index.DefaultEfSearch || tu.Recall < index.DefaultTargetRecall || tu.Target != index.DefaultTargetRecall {
		t.Fatalf("after indexing %d photos: tuning %+v", sum.Added, tu)
	}
	e.Close()

	ro, err := Open(ctx, &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := ro.idx.Tuning(); got != tu {
		t.Fatalf("reopened: tuning %+v, indexed with %+v", got, tu)
	}
}

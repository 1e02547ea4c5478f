package web

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/simsearch/simsearch"
)

// The server keeps its database file open between requests, and an index
// run beside it still gets in: it opens the database for writing (waiting
// 2 s for readers, as a command does), and what it adds is served next.
func TestServe_IndexBesideIt(t *testing.T) {
	f := newFixture(t, nil)
	before := len(f.itemIDs(t))
	if !f.h.eng.KeepOpen() {
		t.Fatal("the served engine does not keep its file open")
	}
	added := filepath.Join(f.photos, "more", "clock-again.jpg")
	copyFile(t, filepath.Join("..", "testdata", "photos", "clock.jpg"), added, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	w, err := simsearch.Open(ctx, &simsearch.Options{DB: f.db, Model: testModel(t), LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("index beside serve: %v", err)
	}
	// Requests meanwhile are answered between the writer's commits.
	f.itemIDs(t)
	_, err = w.Index(ctx, []string{filepath.Dir(added)}, nil)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("index beside serve: %v", err)
	}
	ids := f.itemIDs(t)
	if len(ids) != before+1 || ids[added] == 0 {
		t.Fatalf("after the index run the server lists %d items (%v), want %d with %s", len(ids), ids, before+1, added)
	}
	var a answerJSON
	f.getJSON(t, fmt.Sprintf("/api/v1/query?k=3&id=%d", ids[added]), &a)
	if len(a.Results) == 0 || a.Results[0].Path != filepath.Join(f.photos, "clock.jpg") {
		t.Errorf("query by the new photo: %+v, want clock.jpg first", a.Results)
	}
	if !f.h.eng.KeepOpen() {
		t.Error("the file is not kept open again once the writer has gone")
	}
}

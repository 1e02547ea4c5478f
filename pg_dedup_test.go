package simsearch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

// plantedRecords are n items with unit vectors of dims around 100
// centres, as photo embeddings cluster (the nearest other item at a
// cosine of about 0.6), where every tenth is a near copy of the item
// before it (cosine 0.9 to 0.99) and every 50th an exact copy (the same
// content hash); it also returns each copy's original.
func plantedRecords(n, dims int) ([]store.Record, map[string]string) {
	r := rand.New(rand.NewPCG(19, 19))
	centres := make([][]float32, 100)
	for c := range centres {
		centres[c] = make([]float32, dims)
		for j := range centres[c] {
			centres[c][j] = float32(r.NormFloat64())
		}
		index.Normalize(centres[c])
	}
	sigma := 1 / math.Sqrt(float64(dims))
	copyOf := map[string]string{}
	var recs []store.Record
	for i := range n {
		path := fmt.Sprintf("/photos/%02d/IMG_%05d.jpg", i/500, i)
		v := make([]float32, dims)
		hash := sha256.Sum256([]byte(path))
		switch {
		case i%50 == 1:
			copy(v, recs[i-1].Vector)
			hash = recs[i-1].Item.Hash
			copyOf[path] = recs[i-1].Item.Path
		case i%10 == 1:
			s := 0.004 + 0.01*r.Float64()
			for j := range v {
				v[j] = recs[i-1].Vector[j] + float32(r.NormFloat64()*s)
			}
			copyOf[path] = recs[i-1].Item.Path
		default:
			c := centres[r.IntN(len(centres))]
			for j := range v {
				v[j] = c[j] + float32(r.NormFloat64()*sigma)
			}
		}
		index.Normalize(v)
		recs = append(recs, store.Record{
			Item:   store.Item{Path: path, Size: 1000 + int64(i), ModTime: 1.7e18 + int64(i), Hash: hash, Width: 4000, Height: 3000, Format: "jpeg"},
			Vector: v,
		})
	}
	return recs, copyOf
}

// TestPostgres_DedupOnTheServer: a few thousand clustered vectors with
// planted near and exact copies, written straight through the store of
// a bbolt file and of a PostgreSQL database: dedup on PostgreSQL takes
// its pairs from the server's kNN and finds the same groups as bbolt's
// in-process index, every planted copy with its original, without ever
// loading the index (so no vector comes into the process); a cancelled
// context stops it.
func TestPostgres_DedupOnTheServer(t *testing.T) {
	dsn := testPostgres(t)
	ctx := context.Background()
	recs, copyOf := plantedRecords(3000, 512)
	dbs := map[string]string{"bbolt": filepath.Join(t.TempDir(), "s.db"), "postgres": dsn}
	for name, db := range dbs {
		e := openTestEngine(t, db)
		for i := 0; i < len(recs); i += 500 {
			if _, err := e.db.Put(recs[i:min(i+500, len(recs))]); err != nil {
				t.Fatalf("%s: put: %v", name, err)
			}
		}
		e.Close()
	}
	bolt, pg := openTestEngine(t, dbs["bbolt"]), openTestEngine(t, dsn)
	opts := &DedupOptions{Threshold: 0.85}
	want, err := bolt.FindDuplicates(ctx, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pg.FindDuplicates(ctx, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if pg.indexLoaded() {
		t.Error("dedup on PostgreSQL loaded the index snapshot and the vectors")
	}
	if a, b := resultGroups(want), resultGroups(got); !slices.Equal(a, b) {
		t.Fatalf("dedup groups differ: bbolt %d groups, postgres %d\nbbolt    %q\npostgres %q", len(a), len(b), a, b)
	}
	together := map[string]string{}
	for _, g := range got.Groups {
		for _, m := range g.Members {
			together[m.Path] = g.Keeper.Path
			together[g.Keeper.Path] = m.Path
		}
	}
	for cp, orig := range copyOf {
		if together[cp] != orig && together[orig] != cp {
			t.Errorf("planted copy %s is not grouped with its original %s", cp, orig)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := pg.FindDuplicates(cancelled, nil, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("FindDuplicates with a cancelled context = %v, want context.Canceled", err)
	}
	// A query searches on the server too, and finds what bbolt's index
	// finds.
	q := recs[7].Vector
	a, errA := bolt.QueryVector(q, 0, &QueryOptions{K: 5})
	b, errB := pg.QueryVector(q, 0, &QueryOptions{K: 5})
	if errA != nil || errB != nil || !sameRanked(a, b) {
		t.Fatalf("query after dedup: bbolt %q %v, postgres %q %v", ranked(a), errA, ranked(b), errB)
	}
	if pg.indexLoaded() {
		t.Error("a query on PostgreSQL loaded the index snapshot and the vectors")
	}
	// --exact still scans the vectors here, as before.
	if c, err := pg.QueryVector(q, 0, &QueryOptions{K: 5, Exact: true}); err != nil || !sameRanked(a, c) {
		t.Fatalf("exact query: bbolt %q, postgres exact %q %v", ranked(a), ranked(c), err)
	}
}

// TestPostgres_SnapshotCatchesUpOnChanges: on a shared database an
// engine saving its index snapshot catches up on what other engines
// changed since its index's version (new, replaced and deleted items)
// by reading those vectors and the ids, not every vector: a vector
// changed behind the items' versions is not read (a full catch-up would
// see it), and a new engine then loads the snapshot as current.
func TestPostgres_SnapshotCatchesUpOnChanges(t *testing.T) {
	dsn := testPostgres(t)
	recs, _ := plantedRecords(300, 512)
	a := openTestEngine(t, dsn)
	if _, err := a.db.Put(recs[:200]); err != nil {
		t.Fatal(err)
	}
	if err := a.needIndex(); err != nil {
		t.Fatal(err)
	}
	if a.idx.Len() != 200 {
		t.Fatalf("index of %d after loading 200 items", a.idx.Len())
	}
	b := openTestEngine(t, dsn)
	if _, err := b.db.Put(recs[200:]); err != nil {
		t.Fatal(err)
	}
	replaced := recs[20]
	replaced.Vector = recs[21].Vector
	if _, err := b.db.Put([]store.Record{replaced}); err != nil {
		t.Fatal(err)
	}
	var gone []uint64
	for _, r := range recs[:10] {
		it, _, _ := b.db.ItemByPath(r.Item.Path)
		gone = append(gone, it.ID)
	}
	if err := b.db.Delete(gone); err != nil {
		t.Fatal(err)
	}
	sneaky, _, _ := a.db.ItemByPath(recs[50].Item.Path)
	pgExec(t, dsn, fmt.Sprintf(`UPDATE simsearch.items a SET v = b.v FROM simsearch.items b
		WHERE a.path = convert_to('%s', 'UTF8') AND b.path = convert_to('%s', 'UTF8')`, recs[50].Item.Path, recs[53].Item.Path))

	if err := a.writeIndex(); err != nil {
		t.Fatal(err)
	}
	if a.idx.Len() != 290 {
		t.Errorf("index of %d after the catch-up, want 290 stored", a.idx.Len())
	}
	for _, id := range gone {
		if a.idx.Contains(id) {
			t.Errorf("deleted item %d still in the index", id)
		}
	}
	for _, r := range recs[200:] {
		it, _, _ := a.db.ItemByPath(r.Item.Path)
		if v, ok := a.idx.Vector(it.ID); !ok || !slices.Equal(v, r.Vector) {
			t.Fatalf("new item %s not in the index", r.Item.Path)
		}
	}
	it, _, _ := a.db.ItemByPath(replaced.Item.Path)
	if v, _ := a.idx.Vector(it.ID); !slices.Equal(v, replaced.Vector) {
		t.Error("the replaced vector was not caught up")
	}
	if v, _ := a.idx.Vector(sneaky.ID); !slices.Equal(v, recs[50].Vector) {
		t.Error("the catch-up read a vector whose version did not change: it read them all")
	}
	if changed, err := a.catchUp(); err != nil || !changed {
		t.Fatalf("a full catch-up after it: changed %t, %v; want the sneaky vector found", changed, err)
	}
	m, err := a.db.Meta()
	if err != nil || !m.HasIndex || m.IndexVersion != m.ItemsVersion {
		t.Fatalf("after writeIndex: %+v, %v; want a current snapshot", m, err)
	}
}

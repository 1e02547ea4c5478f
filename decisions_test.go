package simsearch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

func hashOf(s string) Hash { return sha256.Sum256([]byte(s)) }

func decisionOf(hashes ...string) store.Decision {
	var d store.Decision
	for _, h := range hashes {
		d.Files = append(d.Files, store.DecisionFile{Hash: hashOf(h), Path: "/p/" + h})
	}
	slices.SortFunc(d.Files, compareFiles)
	return d
}

// Every pair within a decision is kept apart, and nothing else; a hash
// keeps its exact copies apart only when the decision named it twice.
func TestApart_Covers(t *testing.T) {
	a := newApart([]store.Decision{
		decisionOf("a", "b", "c"),
		decisionOf("c", "d"),
		decisionOf("e", "e"),
		decisionOf("f", "g"),
		decisionOf("g", "a"),
	})
	tests := []struct {
		x, y string
		want bool
	}{
		{"a", "b", true}, {"b", "c", true}, {"c", "a", true}, // all three pairs of the first
		{"c", "d", true}, {"d", "c", true},
		{"a", "d", false}, {"b", "d", false}, // c is in both, they are not
		{"e", "e", true}, {"a", "a", false}, {"c", "c", false},
		{"f", "g", true}, {"g", "a", true}, {"f", "a", false},
		{"x", "y", false}, {"a", "x", false},
	}
	for _, tt := range tests {
		if got := a.covers(hashOf(tt.x), hashOf(tt.y)); got != tt.want {
			t.Errorf("covers(%s, %s) = %t, want %t", tt.x, tt.y, got, tt.want)
		}
	}
	// A file to be kept joins no other keeper's group, and is a keeper.
	keep := decisionOf("k1", "k2")
	keep.Kind = store.KeepAll
	k := newApart([]store.Decision{keep})
	it := func(id uint64, h string) Item { return Item{ID: id, Hash: hashOf(h)} }
	for _, tt := range []struct {
		inGroup, candidate string
		want               bool
	}{
		{"x", "k1", true}, {"k2", "k1", true}, {"k1", "k2", true},
		{"k1", "x", false},  // its copies are found
		{"k1", "k1", false}, // and its exact copy made later too
	} {
		if got := k.keepApart(it(1, tt.inGroup), it(2, tt.candidate)); got != tt.want {
			t.Errorf("keep: keepApart(%s, %s) = %t, want %t", tt.inGroup, tt.candidate, got, tt.want)
		}
	}
	if !k.prefer(it(1, "k2")) || k.prefer(it(1, "x")) {
		t.Error("prefer does not name exactly the files to be kept")
	}

	// Pairs are counted once however often Find asks.
	a.keepApart(it(1, "a"), it(2, "b"))
	a.keepApart(it(1, "a"), it(2, "b"))
	a.keepApart(it(1, "a"), it(3, "c"))
	a.keepApart(it(1, "a"), it(4, "d"))
	if len(a.setOff) != 2 {
		t.Errorf("%d pairs counted, want 2", len(a.setOff))
	}
}

// groupOf returns the group holding path, or nil.
func groupOf(groups []dedup.Group, path string) *dedup.Group {
	for i, g := range groups {
		if g.Keeper.Path == path {
			return &groups[i]
		}
		for _, m := range g.Members {
			if m.Path == path {
				return &groups[i]
			}
		}
	}
	return nil
}

// together reports whether two of paths share a group.
func together(groups []dedup.Group, paths []string) bool {
	for i, p := range paths {
		for _, q := range paths[i+1:] {
			if g := groupOf(groups, p); g != nil && g == groupOf(groups, q) {
				return true
			}
		}
	}
	return false
}

func groupPaths(g dedup.Group) []string {
	out := []string{g.Keeper.Path}
	for _, m := range g.Members {
		out = append(out, m.Path)
	}
	return out
}

// Decisions hold by content: a group ignored stays apart under every
// keeper policy and after its files are moved and renamed, until it is
// forgotten; two copies kept both are not grouped with each other while
// their other copies still are.
func TestEngine_Decisions(t *testing.T) {
	paths, _ := samplePhotos(t)
	dir := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(dir, 0o755)
	for _, p := range paths {
		b := filepath.Base(p)
		if strings.HasPrefix(b, "ladybird") || strings.HasPrefix(b, "cat") || b == "fig.jpg" {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, b), data, 0o644)
		}
	}
	ctx := context.Background()
	e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"))
	if _, err := e.Index(ctx, []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	find := func(keep dedup.Policy) DedupResult {
		t.Helper()
		res, err := e.FindDuplicates(ctx, nil, &DedupOptions{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	res := find("")
	lady := groupOf(res.Groups, in("ladybird.jpg"))
	if lady == nil || len(lady.Members) != 3 || res.SetAside != 0 {
		t.Fatalf("before any decision: ladybird group %+v, %d set aside; want it with its 3 copies, none", lady, res.SetAside)
	}
	ladyPaths := groupPaths(*lady)

	d, err := e.Ignore(ladyPaths)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == 0 || d.Kind != NotDuplicates || len(d.Files) != 4 || len(d.Files[0].Paths) != 1 {
		t.Fatalf("Ignore = %+v", d)
	}
	reversed := slices.Clone(ladyPaths)
	slices.Reverse(reversed)
	if again, err := e.Ignore(reversed); err != nil || again.ID != d.ID {
		t.Errorf("the same files again = decision %d, %v; want %d again", again.ID, err, d.ID)
	}
	for _, keep := range []dedup.Policy{dedup.Largest, dedup.Oldest, dedup.Newest, dedup.ShortestPath} {
		res := find(keep)
		if together(res.Groups, ladyPaths) {
			t.Errorf("--keep %s: two ignored files grouped: %v", keep, res.Groups)
		}
		if res.SetAside < 3 {
			t.Errorf("--keep %s: %d pairs set aside, want at least the keeper's 3", keep, res.SetAside)
		}
	}

	// Moved and renamed: the hashes follow.
	moved := filepath.Join(dir, "album")
	os.MkdirAll(moved, 0o755)
	var newPaths []string
	for i, p := range ladyPaths {
		q := filepath.Join(moved, fmt.Sprintf("renamed-%d%s", i, filepath.Ext(p)))
		if err := os.Rename(p, q); err != nil {
			t.Fatal(err)
		}
		newPaths = append(newPaths, q)
	}
	if _, err := e.Index(ctx, []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	if res := find(""); together(res.Groups, newPaths) {
		t.Errorf("after renaming, ignored files grouped again: %v", res.Groups)
	}
	ds, err := e.Decisions()
	if err != nil || len(ds) != 1 {
		t.Fatalf("Decisions = %+v, %v", ds, err)
	}
	var now []string
	for _, f := range ds[0].Files {
		if !slices.Contains(ladyPaths, f.Named) {
			t.Errorf("file named %s, not one of the paths given", f.Named)
		}
		now = append(now, f.Paths...)
	}
	slices.Sort(now)
	slices.Sort(newPaths)
	if !slices.Equal(now, newPaths) {
		t.Errorf("decision's current paths %q, want the renamed files %q", now, newPaths)
	}

	// Keep both of two near copies: neither is offered for action again,
	// under any policy, while the copies no decision names are still
	// offered, against a kept file.
	kept := []string{in("cat.jpg"), in("cat--bright.jpg")}
	if _, err := e.KeepAll(kept); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []dedup.Policy{dedup.Largest, dedup.Oldest, dedup.Newest, dedup.ShortestPath} {
		res = find(keep)
		for _, g := range res.Groups {
			for _, m := range g.Members {
				if slices.Contains(kept, m.Path) {
					t.Errorf("--keep %s: kept %s offered as a copy of %s", keep, m.Path, g.Keeper.Path)
				}
			}
		}
		if together(res.Groups, kept) {
			t.Errorf("--keep %s: kept files grouped with each other: %v", keep, res.Groups)
		}
		g := groupOf(res.Groups, in("cat--bmp.bmp"))
		if g == nil || !slices.Contains(kept, g.Keeper.Path) {
			t.Errorf("--keep %s: cat--bmp.bmp, a copy no decision names, in group %+v; want it offered against a kept file", keep, g)
		}
	}

	// Forgotten, the ignored group is back.
	f, err := e.Forget(d.ID)
	if err != nil || f.ID != d.ID || f.Kind != NotDuplicates {
		t.Fatalf("Forget = %+v, %v", f, err)
	}
	if _, err := e.Forget(d.ID); !errors.Is(err, ErrNoDecision) {
		t.Errorf("Forget twice: %v, want ErrNoDecision", err)
	}
	if g := groupOf(find("").Groups, newPaths[0]); g == nil || len(g.Members) != 3 {
		t.Errorf("after Forget: group %+v, want the 4 files together again", g)
	}

	// What cannot be decided.
	other := filepath.Join(t.TempDir(), "x.jpg")
	os.WriteFile(other, []byte("x"), 0o644)
	if _, err := e.Ignore([]string{in("fig.jpg"), other}); !errors.Is(err, ErrNotIndexed) {
		t.Errorf("a file never indexed: %v, want ErrNotIndexed", err)
	}
	if err := os.WriteFile(in("fig.jpg"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ignore([]string{in("fig.jpg"), newPaths[0]}); !errors.Is(err, ErrNotIndexed) || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("a file changed since indexing: %v, want ErrNotIndexed", err)
	}
	if _, err := e.KeepAll([]string{newPaths[0], newPaths[0]}); !errors.Is(err, ErrFewFiles) {
		t.Errorf("one file twice: %v, want ErrFewFiles", err)
	}
	g := *groupOf(find("").Groups, newPaths[0])
	g.Members[0].Hash[0] ^= 1
	if _, err := e.DecideGroup(NotDuplicates, g); err == nil || !strings.Contains(err.Error(), "content differs") {
		t.Errorf("a group whose file has another hash: %v", err)
	}
	g.Members[0].Hash[0] ^= 1
	if d, err := e.DecideGroup(KeepAll, g); err != nil || len(d.Files) != 4 {
		t.Errorf("DecideGroup = %+v, %v", d, err)
	}
	// A folder stands for the photos under it.
	if d, err := e.Ignore([]string{moved}); err != nil || len(d.Files) != 4 {
		t.Errorf("Ignore of a folder = %+v, %v; want its 4 photos", d, err)
	}
}

// BenchmarkFind_Decisions groups 4,000 synthetic vectors (1,000 near
// pairs) with no decisions and with 1,000 of them, half of which split a
// near pair: the filter must cost next to nothing beside the searches.
func BenchmarkFind_Decisions(b *testing.B) {
	const n, dims = 4000, 128
	rng := rand.New(rand.NewPCG(1, 2))
	vecs := benchVectors{}
	h := index.NewHNSW(dims, nil)
	var items []Item
	var ids []uint64
	var vs [][]float32
	for i := range n {
		v := make([]float32, dims)
		if i%4 == 1 {
			copy(v, vs[i-1])
			for j := range 8 {
				v[j] += 0.05
			}
		} else {
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
		}
		index.Normalize(v)
		id := uint64(i + 1)
		ids, vs = append(ids, id), append(vs, v)
		vecs[id] = v
		items = append(items, Item{ID: id, Path: fmt.Sprintf("/p/%05d.jpg", i), Hash: hashOf(fmt.Sprint(i)), Width: 10, Height: 10})
	}
	if err := h.AddBatch(ids, vs); err != nil {
		b.Fatal(err)
	}
	var ds []store.Decision
	for i := range 1000 {
		if i%2 == 0 { // a planted near pair
			p := 4 * (i / 2)
			ds = append(ds, decisionOf(fmt.Sprint(p), fmt.Sprint(p+1)))
		} else { // three unrelated photos
			ds = append(ds, decisionOf(fmt.Sprint(rng.IntN(n)), fmt.Sprint(rng.IntN(n)), fmt.Sprint(rng.IntN(n))))
		}
	}
	for _, c := range []struct {
		name string
		ds   []store.Decision
	}{{"none", nil}, {"1000", ds}} {
		b.Run(c.name, func(b *testing.B) {
			var groups []dedup.Group
			setAside := 0
			for b.Loop() {
				o := &dedup.Options{Threshold: 0.9}
				var ap *apart
				if c.ds != nil {
					ap = newApart(c.ds)
					o.Apart, o.Prefer = ap.keepApart, ap.prefer
				}
				var err error
				if groups, err = dedup.Find(context.Background(), items, vecs, h, o); err != nil {
					b.Fatal(err)
				}
				if ap != nil {
					setAside = len(ap.setOff)
				}
			}
			b.ReportMetric(float64(len(groups)), "groups")
			b.ReportMetric(float64(setAside), "set-aside")
		})
	}
}

type benchVectors map[uint64][]float32

func (v benchVectors) Vector(id uint64) ([]float32, error) {
	if x, ok := v[id]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("no vector %d", id)
}

// BenchmarkApart_Pair is the filter's cost for one pair Find asks about,
// with 1,000 decisions recorded: half the pairs asked about are in one.
func BenchmarkApart_Pair(b *testing.B) {
	var ds []store.Decision
	for i := range 1000 {
		ds = append(ds, decisionOf(fmt.Sprint(2*i), fmt.Sprint(2*i+1), fmt.Sprint(4000+i)))
	}
	a := newApart(ds)
	items := make([]Item, 4000)
	for i := range items {
		items[i] = Item{ID: uint64(i + 1), Hash: hashOf(fmt.Sprint(i))}
	}
	i := 0
	for b.Loop() {
		x := 2 * (i % 2000)
		a.keepApart(items[x], items[(x+1+2*(i&1))%len(items)])
		i++
	}
}

// check reports a decision record that does not decode, dedup refuses to
// run without it (it may say "keep"), and check --repair drops it and
// keeps the others. No model is needed: the database names its own.
func TestEngine_CheckDamagedDecision(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	s, err := store.Open(db, &store.Options{Fingerprint: "fp", ModelName: "vgg16-random/rmac", Dims: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put([]store.Record{testRecord("/p/a.jpg", 4, 1), testRecord("/p/b.jpg", 4, 2)}); err != nil {
		t.Fatal(err)
	}
	good, _ := s.AddDecision(decisionOf("a", "b"))
	bad, _ := s.AddDecision(decisionOf("c", "d"))
	s.Close()
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("decisions")).Put(binary.BigEndian.AppendUint64(nil, bad), []byte{1, 2, 3})
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), &Options{DB: db, ModelOptions: &ModelOptions{Dir: t.TempDir(), Name: "vgg16-random"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.FindDuplicates(context.Background(), nil, &DedupOptions{ExactOnly: true}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("dedup with a damaged decision: %v, want ErrCorrupt", err)
	}
	rep, err := e.Check(false)
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Text, fmt.Sprintf("decision %d cannot be decoded", bad)) {
		t.Fatalf("Check = %q, %v; want the damaged decision", rep.Problems, err)
	}
	if rep, err := e.Check(true); err != nil || !rep.OK() {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	if rep, err := e.Check(false); len(rep.Problems) > 0 || err != nil {
		t.Fatalf("after repair: %q, %v", rep.Problems, err)
	}
	ds, err := e.Decisions()
	if err != nil || len(ds) != 1 || ds[0].ID != good {
		t.Fatalf("after repair: decisions %+v, %v; want %d alone", ds, err, good)
	}
	if _, err := e.FindDuplicates(context.Background(), nil, &DedupOptions{ExactOnly: true}); err != nil {
		t.Errorf("dedup after repair: %v", err)
	}
}

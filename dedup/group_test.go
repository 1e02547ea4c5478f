package dedup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

// fixture holds items with hand-made vectors in a Flat index.
type fixture struct {
	items []store.Item
	vecs  map[uint64][]float32
	idx   *index.Flat
}

func (f *fixture) Vector(id uint64) ([]float32, error) {
	v, ok := f.vecs[id]
	if !ok {
		return nil, fmt.Errorf("no vector %d", id)
	}
	return v, nil
}

// unit returns a 2-d unit vector at angle deg, padded to 4 dims.
func unit(deg float64) []float32 {
	r := deg * math.Pi / 180
	return []float32{float32(math.Cos(r)), float32(math.Sin(r)), 0, 0}
}

type spec struct {
	path    string
	deg     float64
	content string // same content → same hash
	w, h    int
	size    int64
	mtime   int64
	taken   int64
	format  string
}

func newFixture(t *testing.T, specs []spec) *fixture {
	t.Helper()
	f := &fixture{vecs: map[uint64][]float32{}, idx: index.NewFlat(4)}
	for i, s := range specs {
		id := uint64(i + 1)
		c := s.content
		if c == "" {
			c = s.path
		}
		it := store.Item{ID: id, Path: s.path, Hash: sha256.Sum256([]byte(c)), Width: s.w, Height: s.h, Size: s.size, ModTime: s.mtime,
			Taken: s.taken, Format: s.format}
		f.items = append(f.items, it)
		f.vecs[id] = unit(s.deg)
		if err := f.idx.Add(id, unit(s.deg)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// layout renders groups as "keeper: member(reason) ..." lines.
func layout(groups []Group) []string {
	var out []string
	for _, g := range groups {
		s := g.Keeper.Path + ":"
		for _, m := range g.Members {
			s += " " + m.Path + "(" + string(m.Reason) + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestFind_DoesNotChain(t *testing.T) {
	// cos 25° ≈ 0.906 ≥ 0.9 > cos 50° ≈ 0.643: A~B, B~C, A≁C.
	f := newFixture(t, []spec{
		{path: "/p/a.jpg", deg: 0, w: 300, h: 300},
		{path: "/p/b.jpg", deg: 25, w: 200, h: 200},
		{path: "/p/c.jpg", deg: 50, w: 100, h: 100},
	})
	groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	got := layout(groups)
	want := []string{"/p/a.jpg: /p/b.jpg(near)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups = %q, want %q (c must not join a through b)", got, want)
	}
	for _, g := range groups {
		for _, m := range g.Members {
			if m.Score < 0.9 {
				t.Errorf("%s is %.3f from keeper %s, below the threshold", m.Path, m.Score, g.Keeper.Path)
			}
		}
	}
}

// cancellingSearcher cancels a context on its first search.
type cancellingSearcher struct {
	cancel   context.CancelFunc
	searches int
}

func (c *cancellingSearcher) Search([]float32, int, int) ([]index.Hit, error) {
	c.searches++
	c.cancel()
	return nil, nil
}

// A cancelled Find stops searching and says why: grouping a large
// collection takes long enough for a user to give up on it.
func TestFind_StopsWhenCancelled(t *testing.T) {
	specs := make([]spec, 1000)
	for i := range specs {
		specs[i] = spec{path: fmt.Sprintf("/p/%04d.jpg", i), deg: float64(i % 90)}
	}
	f := newFixture(t, specs)
	ctx, cancel := context.WithCancel(context.Background())
	s := &cancellingSearcher{cancel: cancel}
	groups, err := Find(ctx, f.items, f, s, &Options{Threshold: 0.9, Workers: 1})
	if !errors.Is(err, context.Canceled) || groups != nil {
		t.Fatalf("Find = %d groups, %v; want none and context.Canceled", len(groups), err)
	}
	if s.searches > 100 {
		t.Errorf("%d of %d items searched after the context was cancelled by the first", s.searches, len(specs))
	}
}

func TestFind_ExactAndNear(t *testing.T) {
	f := newFixture(t, []spec{
		{path: "/p/orig.jpg", deg: 0, content: "x", w: 800, h: 600, size: 100},
		{path: "/p/copy.jpg", deg: 0, content: "x", w: 800, h: 600, size: 100},
		{path: "/p/small.jpg", deg: 5, w: 400, h: 300, size: 50},
		{path: "/p/other.jpg", deg: 90, w: 800, h: 600, size: 100},
		{path: "/q/outside.jpg", deg: 1, w: 900, h: 900, size: 100},
	})
	// Exact copies are found without any vector search.
	groups, err := Find(context.Background(), f.items[:4], nil, nil, &Options{NoNear: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(layout(groups)), "[/p/copy.jpg: /p/orig.jpg(exact)]"; got != want {
		t.Fatalf("exact only: %s, want %s", got, want)
	}
	// Near duplicates; items not passed in (another root) are ignored even
	// though the index returns them.
	groups, err = Find(context.Background(), f.items[:4], f, f.idx, &Options{Threshold: 0.95})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(layout(groups)), "[/p/copy.jpg: /p/orig.jpg(exact) /p/small.jpg(near)]"; got != want {
		t.Fatalf("near: %s, want %s", got, want)
	}
	if m := groups[0].Members[0]; m.Score != 1 {
		t.Errorf("exact member score %v, want 1", m.Score)
	}
}

func TestFind_KeeperPolicies(t *testing.T) {
	specs := []spec{
		{path: "/a/long/name/big.jpg", deg: 0, w: 1000, h: 1000, size: 10, mtime: 20},
		{path: "/b/old.jpg", deg: 1, w: 500, h: 500, size: 10, mtime: 10},
		{path: "/a/new.jpg", deg: 2, w: 500, h: 500, size: 20, mtime: 30},
		{path: "/b/s.jpg", deg: 3, w: 500, h: 500, size: 10, mtime: 25},
	}
	tests := []struct {
		p     Policy
		roots []string
		want  string
	}{
		{Largest, nil, "/a/long/name/big.jpg"},
		{Oldest, nil, "/b/old.jpg"},
		{Newest, nil, "/a/new.jpg"},
		{ShortestPath, nil, "/b/s.jpg"},
		// Under the first root; old and s tie on pixels, so the default
		// rules after it pick the older file (s is shorter).
		{FirstRoot, []string{"/b", "/a"}, "/b/old.jpg"},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			f := newFixture(t, specs)
			groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.99, Keep: tt.p, Roots: tt.roots})
			if err != nil {
				t.Fatal(err)
			}
			if len(groups) != 1 || len(groups[0].Members) != 3 {
				t.Fatalf("groups %q, want one of four", layout(groups))
			}
			if got := groups[0].Keeper.Path; got != tt.want {
				t.Errorf("keeper %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFind_TiesAreDeterministic(t *testing.T) {
	specs := []spec{
		{path: "/p/b.jpg", content: "x", w: 10, h: 10, size: 5},
		{path: "/p/a.jpg", content: "x", w: 10, h: 10, size: 5},
		{path: "/p/c.jpg", content: "x", w: 10, h: 10, size: 5},
	}
	var first string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		var s []spec
		for _, i := range order {
			s = append(s, specs[i])
		}
		f := newFixture(t, s)
		groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(layout(groups))
		if first == "" {
			first = got
			if groups[0].Keeper.Path != "/p/a.jpg" {
				t.Errorf("keeper %s, want /p/a.jpg (path breaks ties)", groups[0].Keeper.Path)
			}
		} else if got != first {
			t.Errorf("input order %v gives %s, want %s", order, got, first)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := ParsePolicy("biggest"); !errors.Is(err, ErrPolicy) {
		t.Errorf("ParsePolicy(biggest) = %v, want ErrPolicy", err)
	}
	if _, err := ParseAction("shred"); !errors.Is(err, ErrAction) {
		t.Errorf("ParseAction(shred) = %v, want ErrAction", err)
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFormat(xml) = %v, want ErrFormat", err)
	}
	if p, err := ParsePolicy(""); p != Default || err != nil {
		t.Errorf("ParsePolicy(\"\") = %v, %v; want %s", p, err, Default)
	}
}

// BenchmarkFind groups 100,000 random 512-d vectors in an HNSW index,
// one in ten with a near copy.
func BenchmarkFind(b *testing.B) {
	const n, dims = 100_000, 512
	f := &fixture{vecs: map[uint64][]float32{}}
	h := index.NewHNSW(dims, nil)
	var ids []uint64
	var vs [][]float32
	seed := uint64(1)
	rnd := func() float32 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return float32(seed%2000)/1000 - 1
	}
	for i := 0; i < n; i++ {
		v := make([]float32, dims)
		if i%10 == 1 {
			copy(v, vs[i-1])
			for j := 0; j < 8; j++ {
				v[j] += 0.05
			}
		} else {
			for j := range v {
				v[j] = rnd()
			}
		}
		normalise(v)
		id := uint64(i + 1)
		ids, vs = append(ids, id), append(vs, v)
		f.vecs[id] = v
		f.items = append(f.items, store.Item{ID: id, Path: fmt.Sprintf("/p/%06d.jpg", i), Hash: sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), Width: 10, Height: 10})
	}
	if err := h.AddBatch(ids, vs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		groups, err := Find(context.Background(), f.items, f, h, &Options{Threshold: 0.9})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(groups)), "groups")
	}
}

func normalise(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := float32(math.Sqrt(s))
	for i := range v {
		v[i] /= n
	}
}

// reversed is a Neighbourer that answers from a Flat index in the
// opposite order of the ids, one direction of each pair only, and for
// ids Find did not ask about too.
type reversed struct{ f *fixture }

func (r reversed) Neighbours(_ context.Context, ids []uint64, k, ef int, minScore float32, emit func(uint64, []index.Hit) error) error {
	for i := len(ids) - 1; i >= 0; i-- {
		hs, err := r.f.idx.Search(r.f.vecs[ids[i]], k, ef)
		if err != nil {
			return err
		}
		var kept []index.Hit
		for _, h := range hs {
			if h.Score >= minScore && h.ID > ids[i] {
				kept = append(kept, h)
			}
		}
		if err := emit(ids[i], kept); err != nil {
			return err
		}
	}
	return emit(1<<40, []index.Hit{{ID: 1, Score: 1}})
}

// FindNear groups as Find does whatever order the pairs come in, with
// each pair given in one direction only, and ignores ids it did not ask
// about.
func TestFindNear_SameGroupsAsFind(t *testing.T) {
	var specs []spec
	for i := range 60 {
		specs = append(specs, spec{path: fmt.Sprintf("/p/%02d.jpg", i), deg: float64(i/3*15) + float64(i%3), w: 100 + i, h: 100})
	}
	f := newFixture(t, specs)
	o := &Options{Threshold: 0.99}
	want, err := Find(context.Background(), f.items, f, f.idx, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FindNear(context.Background(), f.items, reversed{f}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || fmt.Sprint(layout(got)) != fmt.Sprint(layout(want)) {
		t.Fatalf("FindNear = %q\nFind     = %q", layout(got), layout(want))
	}
}

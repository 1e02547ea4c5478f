package dedup

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/internal/store"
)

// Reason says why a member is in its group.
type Reason string

const (
	// Exact means the member has the same content hash as the keeper.
	Exact Reason = "exact"
	// Near means the member's embedding is within the threshold of the
	// keeper's.
	Near Reason = "near"
)

// Item is a stored photo (simsearch.Item).
type Item = store.Item

// Member is one copy in a group other than the keeper.
type Member struct {
	store.Item
	Score  float32 `json:"score"` // cosine to the keeper; 1 for exact copies
	Reason Reason  `json:"reason"`
	// Protected means the member is under a reference folder: compared,
	// reported, never moved, linked or deleted.
	Protected bool `json:"protected,omitempty"`
	// Pair means the member and the keeper are one shot's camera raw file
	// and its JPEG or HEIF (the same base name in the same folder): a
	// camera writes both on purpose, so both are kept, and the plan's
	// action for the member is keep.
	Pair bool `json:"raw_pair,omitempty"`
}

// Group is a keeper and the copies that duplicate it. Every member is
// within the threshold of the keeper itself, never only of another member.
type Group struct {
	Keeper store.Item `json:"keeper"`
	// KeeperReason says which keeper rule made the keeper win over the
	// member ranked next to it: "most pixels (4000×3000)", "earliest
	// capture 2019-05-02 10:11:12", "under reference folder /photos", ...
	KeeperReason    string   `json:"keeper_reason"`
	KeeperProtected bool     `json:"keeper_protected,omitempty"` // the keeper is under a reference folder
	Members         []Member `json:"members"`
}

// Searcher answers k-nearest-neighbour queries; index.HNSW and index.Flat
// are Searchers.
type Searcher interface {
	Search(q []float32, k, ef int) ([]index.Hit, error)
}

// Neighbourer finds the candidate pairs of near duplicates: for each of
// ids, its k nearest stored items at search breadth ef that score at
// least minScore (the item itself may be among them). It calls emit once
// per id that has any, from one goroutine at a time, and stops with ctx's
// error when ctx is done. IndexNeighbours searches an index in this
// process; a server database answers from its own index (simsearch's
// PostgreSQL backend), so that the vectors never leave it.
type Neighbourer interface {
	Neighbours(ctx context.Context, ids []uint64, k, ef int, minScore float32, emit func(id uint64, hits []index.Hit) error) error
}

// IndexNeighbours is the Neighbourer of an index in this process: each
// id's stored vector from vecs, searched in idx by workers goroutines
// (0 means GOMAXPROCS).
func IndexNeighbours(vecs VectorSource, idx Searcher, workers int) Neighbourer {
	return &indexNeighbours{vecs: vecs, idx: idx, workers: workers}
}

type indexNeighbours struct {
	vecs    VectorSource
	idx     Searcher
	workers int
}

// Options configure Find.
type Options struct {
	Threshold float32 // minimum cosine for a near duplicate; required unless NoNear
	// MaxScore, when positive, keeps only pairs scoring below it. Exact
	// copies score 1, so 1 leaves out byte-identical copies; lower values
	// leave out near-identical ones too (a re-encode at high quality
	// scores about 0.9999, a resized copy 0.99, a brightened one 0.9).
	MaxScore float32
	K        int      // neighbours asked of the index per item; 0 means 16
	Ef       int      // search breadth; 0 means the index default
	Keep     Policy   // "" means Default
	Roots    []string // absolute; their order matters to the first-root rule
	// References are absolute folders whose files are compared and may be
	// keepers (before any other file) but are never acted on: their
	// members are Protected.
	References []string
	NoNear     bool // exact duplicates only: no index searches
	Workers    int  // Find's concurrent searches of idx; 0 means GOMAXPROCS
	// Apart, when set, says that two items must not share a group: the
	// user decided they are not copies, or that both are kept
	// (simsearch's Engine.Ignore and KeepAll). Find asks it, from one
	// goroutine, about a candidate and each item already in the group
	// it would join.
	Apart func(inGroup, candidate Item) bool
	// Prefer, when set, names items to visit before the others (in
	// keeper order among themselves), so that each is the keeper of the
	// group it is in: simsearch prefers the files the user decided to
	// keep, which its Apart keeps out of other keepers' groups.
	Prefer func(Item) bool
}

// VectorSource returns an item's stored vector.
type VectorSource interface {
	Vector(id uint64) ([]float32, error)
}

// Find groups items into exact and near duplicates. Items are visited in
// keeper order; each item not yet in a group becomes the keeper of a new
// group and takes every ungrouped item that has its content hash (exact)
// or a cosine to it of at least opts.Threshold (near). So A~B and B~C
// never put A and C together unless A~C. Near pairs come from each
// item's opts.K nearest neighbours in idx, used in both directions.
// Items without duplicates are left out. When ctx is done the searches
// stop and Find returns ctx's error: 100,000 items take most of a minute.
func Find(ctx context.Context, items []store.Item, vecs VectorSource, idx Searcher, opts *Options) ([]Group, error) {
	var workers int
	if opts != nil {
		workers = opts.Workers
	}
	return FindNear(ctx, items, IndexNeighbours(vecs, idx, workers), opts)
}

// FindNear is Find with the near pairs from near, which need not search
// an index in this process: only the pairs within the threshold and the
// items are held, never the vectors.
func FindNear(ctx context.Context, items []store.Item, near Neighbourer, opts *Options) ([]Group, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.K <= 0 {
		o.K = 16
	}
	if o.Keep == "" {
		o.Keep = Default
	}
	rules, err := compile(o.Keep)
	if err != nil {
		return nil, err
	}
	if !o.NoNear && (o.Threshold <= 0 || o.Threshold > 1) {
		return nil, fmt.Errorf("threshold %v: must be in (0, 1]", o.Threshold)
	}
	switch {
	case o.MaxScore < 0 || o.MaxScore > 1:
		return nil, fmt.Errorf("max score %v: must be in (0, 1]", o.MaxScore)
	case o.MaxScore > 0 && o.NoNear:
		return nil, fmt.Errorf("max score %v: exact copies score 1, so none would be left", o.MaxScore)
	case o.MaxScore > 0 && o.MaxScore <= o.Threshold:
		return nil, fmt.Errorf("max score %v: must be above the threshold %v", o.MaxScore, o.Threshold)
	}
	below := func(score float32) bool { return o.MaxScore == 0 || score < o.MaxScore }
	rk := rank(items, rules, o.Roots, o.References)
	rk.preferFirst(o.Prefer)
	items = rk.items
	pos := make(map[uint64]int, len(items))
	for i, it := range items {
		pos[it.ID] = i
	}
	byHash := make(map[[32]byte][]int)
	for i, it := range items {
		byHash[it.Hash] = append(byHash[it.Hash], i)
	}
	var adj [][]edge
	if !o.NoNear {
		var err error
		adj, err = neighbours(ctx, items, pos, near, &o)
		if err != nil {
			return nil, err
		}
	}
	taken := make([]bool, len(items))
	var groups []Group
	for i, k := range items {
		if taken[i] {
			continue
		}
		taken[i] = true
		g := Group{Keeper: k, KeeperProtected: rootOf(k.Path, o.References) >= 0}
		next := len(items) // the member ranked next to the keeper
		add := func(j int, score float32, r Reason) {
			taken[j] = true
			next = min(next, j)
			g.Members = append(g.Members, Member{Item: items[j], Score: score, Reason: r,
				Protected: rootOf(items[j].Path, o.References) >= 0, Pair: rawPair(&k, &items[j])})
		}
		if below(1) {
			for _, j := range byHash[k.Hash] {
				if !taken[j] && o.fits(&g, items[j]) {
					add(j, 1, Exact)
				}
			}
		}
		if adj != nil {
			for _, e := range adj[i] {
				if taken[e.to] || e.score < o.Threshold || !below(e.score) {
					continue
				}
				if items[e.to].Hash == k.Hash {
					continue // an exact copy that MaxScore left out
				}
				// Copies with the same content as a near member are as
				// close to the keeper as it is.
				for _, j := range byHash[items[e.to].Hash] {
					if !taken[j] && o.fits(&g, items[j]) {
						add(j, e.score, Near)
					}
				}
			}
		}
		if len(g.Members) == 0 {
			continue
		}
		g.KeeperReason = rk.reason(i, next)
		if o.Prefer != nil && o.Prefer(k) {
			g.KeeperReason = "kept by a decision (dedup keep)"
		}
		sort.SliceStable(g.Members, func(a, b int) bool {
			ma, mb := g.Members[a], g.Members[b]
			if ma.Score != mb.Score {
				return ma.Score > mb.Score
			}
			return ma.Path < mb.Path
		})
		groups = append(groups, g)
	}
	return groups, nil
}

type edge struct {
	to    int
	score float32
}

// neighbours returns, per item, the items within the threshold of it,
// from both directions of every kNN list, best first.
func neighbours(ctx context.Context, items []store.Item, pos map[uint64]int, near Neighbourer, o *Options) ([][]edge, error) {
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	hits := make([][]edge, len(items))
	err := near.Neighbours(ctx, ids, o.K+1, o.Ef, o.Threshold, func(id uint64, hs []index.Hit) error {
		i, ok := pos[id]
		if !ok {
			return nil
		}
		for _, h := range hs {
			j, ok := pos[h.ID]
			if ok && j != i && h.Score >= o.Threshold {
				hits[i] = append(hits[i], edge{j, h.Score})
			}
		}
		return nil
	})
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	adj := make([][]edge, len(items))
	seen := make(map[[2]int]bool)
	add := func(a, b int, s float32) {
		k := [2]int{min(a, b), max(a, b)}
		if seen[k] {
			return
		}
		seen[k] = true
		adj[a] = append(adj[a], edge{b, s})
		adj[b] = append(adj[b], edge{a, s})
	}
	for i, hs := range hits {
		for _, e := range hs {
			add(i, e.to, e.score)
		}
	}
	for i := range adj {
		sort.Slice(adj[i], func(a, b int) bool {
			if adj[i][a].score != adj[i][b].score {
				return adj[i][a].score > adj[i][b].score
			}
			return adj[i][a].to < adj[i][b].to
		})
	}
	return adj, nil
}

// Neighbours searches the index for each id's stored vector.
func (n *indexNeighbours) Neighbours(ctx context.Context, ids []uint64, k, ef int, minScore float32, emit func(uint64, []index.Hit) error) error {
	workers := n.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // emit and first
		first error
		next  = make(chan uint64)
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				v, err := n.vecs.Vector(id)
				if err != nil {
					fail(fmt.Errorf("neighbours of item %d: %w", id, err))
					continue
				}
				hs, err := n.idx.Search(v, k, ef)
				if err != nil {
					fail(fmt.Errorf("neighbours of item %d: %w", id, err))
					continue
				}
				kept := hs[:0:0]
				for _, h := range hs {
					if h.Score >= minScore {
						kept = append(kept, h)
					}
				}
				if len(kept) == 0 {
					continue
				}
				mu.Lock()
				if first == nil {
					first = emit(id, kept)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait() // the searches in flight end within milliseconds
	if err := ctx.Err(); err != nil {
		return err
	}
	return first
}

// rootOf returns the index of the first root that path is under, or -1.
func rootOf(path string, roots []string) int {
	for i, r := range roots {
		if path == r || strings.HasPrefix(path, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return i
		}
	}
	return -1
}

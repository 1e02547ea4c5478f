package simsearch

import (
	"context"
	"fmt"
	"image"
	"io"
	"slices"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/internal/store"
)

// DedupOptions configure Engine.Duplicates.
type DedupOptions struct {
	Threshold float32 // minimum cosine for near duplicates; 0 means the model's calibrated default
	// MaxScore, when positive, keeps only pairs scoring below it (exact
	// copies score 1); see dedup.Options.
	MaxScore float32
	Keep     dedup.Policy // keeper rules; "" means dedup.Default
	// References are folders whose photos are compared with the others
	// and may be keepers (before any other), but are never moved, linked
	// or deleted (dedup.Member.Protected). They are grouped along with
	// roots.
	References []string
	K          int // neighbours per item; 0 means 16
	// Ef is the search breadth; 0 means the index's tuned breadth, at
	// most MaxDedupEf (on a server database, whose own index searches,
	// the breadth its tuning chose, at most MaxDedupEf; MaxDedupEf when
	// it was never tuned).
	Ef        int
	ExactOnly bool // content hashes only, no index searches
}

// MaxDedupEf caps the search breadth dedup takes from the index's tuning
// when DedupOptions.Ef is 0. The tuning aims at recall@10 over any stored
// vector, and on data where neighbours are hard to tell apart it climbs
// to index.MaxTunedEf, where a search costs a good part of an exact
// scan. A near copy is far closer to its original than any tenth
// neighbour, and a narrow search finds it: see the dedup row of make
// bench, which groups 100,000 random vectors (tuned ef 4,096) at several
// breadths.
const MaxDedupEf = 256

// Duplicates is FindDuplicates' groups.
func (e *Engine) Duplicates(ctx context.Context, roots []string, opts *DedupOptions) ([]dedup.Group, error) {
	res, err := e.FindDuplicates(ctx, roots, opts)
	return res.Groups, err
}

// DedupResult is what FindDuplicates found.
type DedupResult struct {
	Groups []dedup.Group
	// SetAside counts the pairs of photos that would have shared a group
	// but were kept apart by recorded decisions (Ignore, KeepAll).
	SetAside int
}

// FindDuplicates groups the indexed photos under roots and
// opts.References (all photos when roots is empty) into exact and near
// duplicates, each group with its keeper, keeping apart the files of each
// recorded decision. The order of roots matters to the first-root keeper
// rule.
func (e *Engine) FindDuplicates(ctx context.Context, roots []string, opts *DedupOptions) (DedupResult, error) {
	var o DedupOptions
	if opts != nil {
		o = *opts
	}
	if o.Threshold == 0 {
		o.Threshold = e.threshold
	}
	if o.Threshold == 0 && !o.ExactOnly {
		return DedupResult{}, fmt.Errorf("no near-duplicate threshold without the model (%w); give one", e.modelErr)
	}
	abs, err := orderedAbs(roots)
	if err != nil {
		return DedupResult{}, err
	}
	refs, err := orderedAbs(o.References)
	if err != nil {
		return DedupResult{}, err
	}
	within := abs
	if len(abs) > 0 {
		within = append(slices.Clip(abs), refs...)
	}
	var items []Item
	seen := map[string]bool{} // one item a file: an old one by absolute path may share it (reroot)
	err = e.db.ForEachItem(func(it Item) error {
		// A file under a root not named here is not acted on (IsStoredPath).
		if it.State == store.StateIndexed && !IsStoredPath(it.Path) && !seen[it.Path] && (len(within) == 0 || underAny(it.Path, within)) {
			seen[it.Path] = true
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return DedupResult{}, fmt.Errorf("read items: %w", err)
	}
	ap, err := e.loadApart()
	if err != nil {
		return DedupResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return DedupResult{}, err
	}
	// A server database finds the near pairs itself, in its own index
	// (at its tuned breadth, capped as below), and the vectors stay
	// there; otherwise this process's index does.
	near, server := e.backend().(dedup.Neighbourer) // ids and scores: no paths to convert
	if !server && !o.ExactOnly {
		if err := e.needIndex(); err != nil {
			return DedupResult{}, err
		}
		near = dedup.IndexNeighbours(e.db, e.idx, 0)
	}
	switch {
	case o.Ef > 0:
	case server:
		o.Ef = MaxDedupEf
		if s, ok := near.(serverSearcher); ok {
			t, err := s.Tuning(ctx)
			if err != nil {
				return DedupResult{}, err
			}
			if t.Size > 0 {
				o.Ef = min(t.Ef, MaxDedupEf)
			}
		}
	case e.idx != nil:
		o.Ef = min(e.idx.Tuning().Ef, MaxDedupEf)
	}
	fo := &dedup.Options{
		Threshold: o.Threshold, MaxScore: o.MaxScore, K: o.K, Ef: o.Ef, Keep: o.Keep, Roots: abs,
		References: refs, NoNear: o.ExactOnly,
	}
	if ap != nil {
		fo.Apart, fo.Prefer = ap.keepApart, ap.prefer
	}
	groups, err := dedup.FindNear(ctx, items, near, fo)
	if err != nil {
		return DedupResult{}, err
	}
	res := DedupResult{Groups: groups}
	if ap != nil {
		res.SetAside = len(ap.setOff)
	}
	return res, nil
}

// JournalDir is where dedup runs are journalled: next to a database file
// (on PostgreSQL, on this machine: see journalDir).
func (e *Engine) JournalDir() string { return journalDir(e.opts.DB) }

// ActOnDuplicates applies an action to the members of groups (see
// dedup.Act; opts.JournalDir defaults to JournalDir) and removes the files
// it moved, deleted or replaced from the database. Lines saying what is
// done go to log. When ctx is done it stops before the next file (see
// dedup.Apply).
func (e *Engine) ActOnDuplicates(ctx context.Context, groups []dedup.Group, opts dedup.ActOptions, log io.Writer) (dedup.Outcome, error) {
	if opts.JournalDir == "" {
		opts.JournalDir = e.JournalDir()
	}
	abs, err := orderedAbs(opts.Roots)
	if err != nil {
		return dedup.Outcome{}, err
	}
	opts.Roots = abs
	out, err := dedup.Act(ctx, groups, &opts, log)
	if ferr := e.forget(out.Changed); ferr != nil && err == nil {
		err = fmt.Errorf("update database after dedup: %w", ferr)
	}
	return out, err
}

// UndoDuplicates reverses the newest dedup run that is neither undone nor
// purged (see UndoRun). Restored files are indexed again by the next Index
// run.
func (e *Engine) UndoDuplicates(log io.Writer) (dedup.UndoResult, error) {
	return e.UndoRun(context.Background(), "", log)
}

var _ dedup.ImageDecoder = DecodeThumbnail

// DecodeThumbnail decodes the photo at path for the thumbnails of
// dedup.WriteReport's HTML report the way indexing reads it: regular files
// only (a FIFO or a link to a device is refused, never opened), at most
// 1 GiB, the content sniffed before the rest is read, upright, within the
// pixel limit, and shrunk early to twice the thumbnails' 192 pixels.
func DecodeThumbnail(path string) (image.Image, error) {
	if IsStoredPath(path) {
		return nil, fmt.Errorf("decode %s: under a root not named on this machine", path)
	}
	img, _, err := extractor.DecodeFile(path, &extractor.DecodeOptions{MinSide: 384})
	if err != nil {
		return nil, err
	}
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i := 0; i < img.W*img.H; i++ {
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2], 255
	}
	return out, nil
}

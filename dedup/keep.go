package dedup

import (
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch/internal/store"
)

// Policy chooses the keeper of a group: keeper rules separated by commas,
// each breaking the ties the ones before it leave.
//
//	pixels          most pixels (after EXIF orientation)
//	bytes           largest file
//	taken           earliest capture time (EXIF DateTimeOriginal); a photo
//	                without one counts by its modification time
//	oldest, newest  earliest, latest modification time
//	shortest-path   fewest bytes in the path
//	first-root      under the earliest of the roots given
//	format:LIST     earlier in LIST wins, e.g. format:raw,heic,png,jpeg;
//	                raw is any camera raw file (by its content or its
//	                extension: .dng .cr2 .cr3 .nef .arw .orf .rw2 .raf ...)
//	path:GLOB       the path matches GLOB (see below)
//	largest         the same as pixels,bytes
//
// The rules of Default then break what ties remain, then the shorter path,
// then the lexically smaller one, so runs are repeatable. Whatever the
// rules, a file under a reference folder (Options.References) is keeper
// before any other, and a camera raw file is never the copy removed in
// favour of its own JPEG or HEIF (the file with its base name in its
// folder): it ranks where that sibling (or an exact copy of it) does, just
// before it, and the sibling in its group is a Pair, kept too.
//
// A GLOB without a slash is matched (path.Match) against every element of
// the path, so path:originals prefers files in any folder named
// originals and path:*.tif files named so; a GLOB with a slash must be
// absolute and is matched against the whole path and against each folder
// above the file, so path:/photos/2019 prefers everything under
// /photos/2019 and path:/photos/*/best everything under a best folder one
// level below /photos. A GLOB cannot hold a comma.
type Policy string

// Named policies. Default keeps the source of edited copies: the most
// pixels, then the earliest capture, then the oldest file, then the most
// bytes. An edited copy (brightened, watermarked, re-encoded, converted)
// has the original's pixels and often more bytes, but it was made later.
const (
	Default      Policy = "pixels,taken,oldest,bytes"
	Largest      Policy = "largest"       // pixels, then bytes
	Oldest       Policy = "oldest"        // earliest modification time
	Newest       Policy = "newest"        // latest modification time
	ShortestPath Policy = "shortest-path" // fewest bytes in the path
	FirstRoot    Policy = "first-root"    // under the first root given
)

// ErrPolicy is returned for a keeper policy that does not parse: an
// unknown rule or format, or a bad pattern.
var ErrPolicy = errors.New("bad keeper policy")

// ruleNames lists the rules for error messages.
const ruleNames = "pixels, bytes, taken, oldest, newest, shortest-path, first-root, format:LIST, path:GLOB, largest"

// ParsePolicy checks the policy s and returns it; "" means Default.
func ParsePolicy(s string) (Policy, error) {
	if strings.TrimSpace(s) == "" {
		return Default, nil
	}
	if _, err := compile(Policy(s)); err != nil {
		return "", err
	}
	return Policy(s), nil
}

type ruleKind int

const (
	rulePixels ruleKind = iota
	ruleBytes
	ruleTaken
	ruleOldest
	ruleNewest
	ruleShortestPath
	ruleFirstRoot
	ruleFormat
	rulePath
)

var ruleByName = map[string]ruleKind{
	"pixels": rulePixels, "bytes": ruleBytes, "taken": ruleTaken, "oldest": ruleOldest,
	"newest": ruleNewest, "shortest-path": ruleShortestPath, "first-root": ruleFirstRoot,
}

// rule is one compiled keeper rule.
type rule struct {
	kind    ruleKind
	formats []string // format: canonical names, preferred first
	glob    string   // path:
}

// rawExts are the extensions of camera raw files, without the dot.
var rawExts = map[string]bool{
	"dng": true, "cr2": true, "cr3": true, "crw": true, "nef": true, "nrw": true, "arw": true, "srf": true,
	"sr2": true, "orf": true, "rw2": true, "raf": true, "pef": true, "srw": true, "rwl": true, "iiq": true,
	"3fr": true, "x3f": true, "mrw": true, "kdc": true, "dcr": true, "erf": true,
}

// formatAlias maps the names a format: list accepts to the format names
// items carry (Item.Format).
var formatAlias = map[string]string{
	"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "gif": "gif", "bmp": "bmp", "tiff": "tiff", "tif": "tiff",
	"webp": "webp", "heic": "heic", "heif": "heic", "avif": "avif", "jxl": "jxl", "jpeg2000": "jpeg2000",
	"jp2": "jpeg2000", "raw": "raw",
}

// canonicalFormat returns the name a format: list entry stands for.
func canonicalFormat(s string) (string, bool) {
	s = strings.ToLower(s)
	if f, ok := formatAlias[s]; ok {
		return f, true
	}
	if rawExts[s] {
		return s, true // one raw format, matched by extension
	}
	return "", false
}

// compile parses p into its rules followed by Default's.
func compile(p Policy) ([]rule, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrPolicy, string(p), fmt.Sprintf(format, a...))
	}
	var rules []rule
	var format *rule // the format: list being read
	for _, tok := range strings.Split(string(p), ",") {
		tok = strings.TrimSpace(tok)
		name, arg, hasArg := strings.Cut(tok, ":")
		if format != nil && !hasArg {
			if _, isRule := ruleByName[tok]; !isRule && tok != "largest" {
				f, ok := canonicalFormat(tok)
				if !ok {
					return nil, bad("unknown rule or format %q (rules: %s)", tok, ruleNames)
				}
				format.formats = append(format.formats, f)
				continue
			}
		}
		format = nil
		switch {
		case tok == "":
			return nil, bad("empty rule")
		case hasArg && name == "format":
			f, ok := canonicalFormat(arg)
			if !ok {
				return nil, bad("unknown format %q in %s (formats: raw, heic, png, jpeg, tiff, webp, gif, bmp, avif, jxl, or a raw extension such as dng)", arg, tok)
			}
			rules = append(rules, rule{kind: ruleFormat, formats: []string{f}})
			// Nothing is appended to rules while the list is read, so
			// the pointer stays valid.
			format = &rules[len(rules)-1]
		case hasArg && name == "path":
			if arg == "" {
				return nil, bad("path: needs a pattern")
			}
			if _, err := path.Match(arg, ""); err != nil {
				return nil, bad("pattern %q: %v", arg, err)
			}
			if strings.Contains(arg, "/") && !strings.HasPrefix(arg, "/") {
				return nil, bad("pattern %q has a slash, so it must be absolute (start with /)", arg)
			}
			rules = append(rules, rule{kind: rulePath, glob: arg})
		case tok == "largest":
			rules = append(rules, rule{kind: rulePixels}, rule{kind: ruleBytes})
		default:
			k, ok := ruleByName[tok]
			if !ok {
				return nil, bad("unknown rule %q (rules: %s)", tok, ruleNames)
			}
			rules = append(rules, rule{kind: k})
		}
	}
	return append(rules, defaultRules...), nil
}

var defaultRules = []rule{{kind: rulePixels}, {kind: ruleTaken}, {kind: ruleOldest}, {kind: ruleBytes}}

// ranking orders items best keeper first and explains the order.
type ranking struct {
	rules []rule
	roots []string // for first-root
	refs  []string // reference folders
	items []store.Item
	keys  [][]int64 // per item: reference (0 under one), then one key per rule; smaller is better
	// sibling is, for a raw file moved up to rank with its JPEG or HEIF
	// sibling, that sibling's path.
	sibling map[uint64]string
}

// rank sorts a copy of items best keeper first.
func rank(items []store.Item, rules []rule, roots, refs []string) *ranking {
	r := &ranking{rules: rules, roots: roots, refs: refs, sibling: map[uint64]string{}}
	type entry struct {
		it  store.Item
		key []int64
	}
	es := make([]entry, len(items))
	flat := make([]int64, len(items)*(1+len(rules)))
	for i, it := range items {
		k := flat[i*(1+len(rules)) : (i+1)*(1+len(rules))]
		r.fill(k, &it)
		es[i] = entry{it, k}
	}
	slices.SortStableFunc(es, func(a, b entry) int { return compareRanked(&a.it, &b.it, a.key, b.key) })

	// A raw file ranks just before the first of its JPEG or HEIF
	// siblings and their exact copies, so that it is never grouped under
	// one of them as a copy.
	raws := map[string][]int{} // sibling key → raw files, best first
	for i := range es {
		if isRaw(&es[i].it) {
			k := siblingKey(es[i].it.Path)
			raws[k] = append(raws[k], i)
		}
	}
	type sib struct{ key, path string }
	sibs := map[store.Hash][]sib{} // content of a sibling → the raw files it must not outrank
	if len(raws) > 0 {
		for i := range es {
			if it := &es[i].it; isRawSibling(it) {
				if k := siblingKey(it.Path); raws[k] != nil {
					sibs[it.Hash] = append(sibs[it.Hash], sib{k, it.Path})
				}
			}
		}
	}
	r.items = make([]store.Item, 0, len(es))
	r.keys = make([][]int64, 0, len(es))
	placed := make([]bool, len(es))
	for i := range es {
		if placed[i] {
			continue
		}
		for _, s := range sibs[es[i].it.Hash] {
			for _, j := range raws[s.key] {
				if j > i && !placed[j] {
					placed[j] = true
					r.items = append(r.items, es[j].it)
					r.keys = append(r.keys, es[j].key)
					r.sibling[es[j].it.ID] = s.path
				}
			}
		}
		placed[i] = true
		r.items = append(r.items, es[i].it)
		r.keys = append(r.keys, es[i].key)
	}
	return r
}

// fill writes it's keys into k.
func (r *ranking) fill(k []int64, it *store.Item) {
	k[0] = 1
	if rootOf(it.Path, r.refs) >= 0 {
		k[0] = 0
	}
	for i, ru := range r.rules {
		var v int64
		switch ru.kind {
		case rulePixels:
			v = -int64(it.Width) * int64(it.Height)
		case ruleBytes:
			v = -max(it.Size, -math.MaxInt64)
		case ruleTaken:
			v = takenOrMTime(it)
		case ruleOldest:
			v = it.ModTime
		case ruleNewest:
			v = -max(it.ModTime, -math.MaxInt64)
		case ruleShortestPath:
			v = int64(len(it.Path))
		case ruleFirstRoot:
			v = math.MaxInt64
			if j := rootOf(it.Path, r.roots); j >= 0 {
				v = int64(j)
			}
		case ruleFormat:
			v = int64(formatRank(it, ru.formats))
		case rulePath:
			v = 1
			if matchPath(ru.glob, it.Path) {
				v = 0
			}
		}
		k[1+i] = v
	}
}

// compareRanked orders two items by their keys, then by the shorter path,
// then by the lexically smaller one.
func compareRanked(a, b *store.Item, ka, kb []int64) int {
	if c := slices.Compare(ka, kb); c != 0 {
		return c
	}
	if len(a.Path) != len(b.Path) {
		return len(a.Path) - len(b.Path)
	}
	return strings.Compare(a.Path, b.Path)
}

// reason says why the item at keeper (an index into r.items) ranks above
// the one at other, which is below it. A keeper under a reference folder
// says so first, even when other is under one too.
func (r *ranking) reason(keeper, other int) string {
	why := r.decisive(keeper, other)
	if r.keys[keeper][0] == 0 && r.keys[other][0] == 0 {
		return "under reference folder " + r.refs[rootOf(r.items[keeper].Path, r.refs)] + "; " + why
	}
	return why
}

// decisive names the rule that puts keeper above other, with the
// keeper's value.
func (r *ranking) decisive(keeper, other int) string {
	k, o := &r.items[keeper], &r.items[other]
	kk, ko := r.keys[keeper], r.keys[other]
	if s, ok := r.sibling[k.ID]; ok && compareRanked(k, o, kk, ko) > 0 {
		return "camera raw, ranked with its sibling " + filepath.Base(s)
	}
	i := 0
	for i < len(kk) && kk[i] == ko[i] {
		i++
	}
	if i == len(kk) {
		if len(k.Path) != len(o.Path) {
			return "shorter path (every rule tied)"
		}
		return "path sorts first (every rule tied)"
	}
	if i == 0 {
		return "under reference folder " + r.refs[rootOf(k.Path, r.refs)]
	}
	ru := r.rules[i-1]
	switch ru.kind {
	case rulePixels:
		return fmt.Sprintf("most pixels (%d×%d)", k.Width, k.Height)
	case ruleBytes:
		return fmt.Sprintf("most bytes (%d)", k.Size)
	case ruleTaken:
		if k.Taken != 0 {
			return "earliest capture " + localTime(k.Taken)
		}
		return "earliest file time " + localTime(k.ModTime) + " (no capture date)"
	case ruleOldest:
		return "oldest file (" + localTime(k.ModTime) + ")"
	case ruleNewest:
		return "newest file (" + localTime(k.ModTime) + ")"
	case ruleShortestPath:
		return "shortest path"
	case ruleFirstRoot:
		return "under the earliest root given (" + r.roots[kk[i]] + ")"
	case ruleFormat:
		return "preferred format " + ru.formats[kk[i]]
	case rulePath:
		return "path matches " + ru.glob
	}
	return ""
}

// localTime formats unix nanoseconds in the local zone, to the second.
func localTime(ns int64) string {
	return time.Unix(0, ns).Local().Format("2006-01-02 15:04:05")
}

// takenOrMTime is the capture time, or the modification time without one.
func takenOrMTime(it *store.Item) int64 {
	if it.Taken != 0 {
		return it.Taken
	}
	return it.ModTime
}

// ext is the lower-case extension of p without its dot.
func ext(p string) string {
	return strings.ToLower(strings.TrimPrefix(filepath.Ext(p), "."))
}

// isRaw reports whether it is a camera raw file, by content or by name.
func isRaw(it *store.Item) bool {
	return it.Format == "raw" || rawExts[ext(it.Path)]
}

// isRawSibling reports whether it is the kind of file a camera writes
// beside a raw one: a JPEG or a HEIF.
func isRawSibling(it *store.Item) bool {
	if isRaw(it) {
		return false
	}
	switch it.Format {
	case "jpeg", "heic":
		return true
	}
	switch ext(it.Path) {
	case "jpg", "jpeg", "heic", "heif":
		return true
	}
	return false
}

// rawPair reports whether a and b are one shot's camera raw file and its
// JPEG or HEIF, in either order.
func rawPair(a, b *store.Item) bool {
	if isRaw(b) {
		a, b = b, a
	}
	return isRaw(a) && isRawSibling(b) && siblingKey(a.Path) == siblingKey(b.Path)
}

// siblingKey is the folder and base name without extension of p, which a
// camera's raw and JPEG files of one shot share (case aside).
func siblingKey(p string) string {
	base := filepath.Base(p)
	return filepath.Dir(p) + "\x00" + strings.ToLower(strings.TrimSuffix(base, filepath.Ext(base)))
}

// formatRank is the position in formats of the first entry it is, or
// len(formats).
func formatRank(it *store.Item, formats []string) int {
	e := ext(it.Path)
	for i, f := range formats {
		switch {
		case f == it.Format,
			f == "raw" && isRaw(it),
			rawExts[f] && f == e:
			return i
		}
	}
	return len(formats)
}

// matchPath reports whether p matches glob as Policy describes.
func matchPath(glob, p string) bool {
	p = filepath.ToSlash(p)
	if !strings.Contains(glob, "/") {
		for _, elem := range strings.Split(p, "/") {
			if ok, _ := path.Match(glob, elem); ok && elem != "" {
				return true
			}
		}
		return false
	}
	for d := p; ; {
		if ok, _ := path.Match(glob, d); ok {
			return true
		}
		parent := path.Dir(d)
		if parent == d {
			return false
		}
		d = parent
	}
}

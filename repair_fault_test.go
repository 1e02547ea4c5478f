package simsearch

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/simsearch/simsearch/internal/store"
)

// The fault-injection test of `check --repair`: a database indexed from
// real photos is damaged with random bytes, in its bbolt pages or in the
// values it holds; one `check --repair` must leave a database that `check`
// passes at once, and the next `index` must bring it back to exactly one
// item per photo on disk. A file too damaged to salvage (both bbolt meta
// pages or the page of the bucket roots destroyed) must say so with the
// CLI's hint to move it away and index again; the test then does that, and
// the same end state is required.
func TestCheckRepair_FlippedBytes(t *testing.T) {
	bin := cliWithModel(t)
	photos, base := faultBase(t, bin)
	lay := layoutOf(t, base)
	files := photoFiles(t, photos)
	t.Logf("%d photos; base database of %d bytes: %d pages in use, %d vectors, %d items, %d path entries located",
		len(files), len(base), len(lay.pages), len(lay.vectors), len(lay.items), len(lay.pathKeys))

	// The modes that touch any page can lose a whole bucket, and every
	// photo is then embedded again; -short keeps to damage that costs a
	// few embeddings.
	seeds := 36
	modes := faultModes
	if testing.Short() {
		seeds = 6
		modes = slices.DeleteFunc(slices.Clone(modes), func(m faultMode) bool { return m.anyPage })
	}
	failed, unsalvageable := 0, 0
	for seed := range seeds {
		mode := modes[seed%len(modes)]
		ok := t.Run(fmt.Sprintf("%d-%s", seed, mode.name), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
			b := slices.Clone(base)
			what := mode.damage(rng, b, lay)
			t.Logf("damage: %s", what)
			db := filepath.Join(t.TempDir(), "simsearch.db")
			if err := os.WriteFile(db, b, 0o600); err != nil {
				t.Fatal(err)
			}
			cli := func(args ...string) (string, error) {
				t.Helper()
				cmd := exec.Command(bin, append([]string{"--db", db, "--model", "vgg16-random"}, args...)...)
				cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
				out, err := cmd.CombinedOutput()
				if bad := rawControl(out); bad != "" {
					t.Errorf("simsearch %s printed a raw %s:\n%s", strings.Join(args, " "), bad, out)
				}
				return string(out), err
			}
			out, err := cli("check", "--repair")
			t.Logf("check --repair:\n%s", out)
			if err != nil {
				if !strings.Contains(out, "database cannot be salvaged") || !strings.Contains(out, "move it away and index again") {
					t.Fatalf("check --repair: %v", err)
				}
				unsalvageable++
				if err := os.Rename(db, db+".moved"); err != nil {
					t.Fatal(err)
				}
			} else if out, err := cli("check"); err != nil || !strings.Contains(out, "ok: database and index are consistent") {
				t.Fatalf("check right after the repair: %v\n%s", err, out)
			}
			if out, err := cli("index", photos); err != nil {
				t.Fatalf("index after the repair: %v\n%s", err, out)
			} else {
				t.Logf("index: %s", strings.TrimSpace(out))
			}
			if out, err := cli("check"); err != nil || !strings.Contains(out, "ok: database and index are consistent") {
				t.Errorf("check after index: %v\n%s", err, out)
			}
			got := storedPaths(t, db)
			if missing, extra := diffSets(files, got); len(missing) > 0 || len(extra) > 0 || len(got) != len(files) {
				t.Errorf("after repair and index: %d items for %d photos; missing %q, extra %q", len(got), len(files), missing, extra)
			}
		})
		if !ok {
			failed++
		}
	}
	t.Logf("%d of %d damaged databases failed; %d could not be salvaged and were indexed anew", failed, seeds, unsalvageable)
}

// faultBase indexes the sample photos in a/, then writes the database the
// test damages: the items of a/ and of copies of its photos in b/ to e/,
// each copy with its original's vector (which is what embedding it
// stores), in one Put: a few hundred items, so every bucket spans branch
// and leaf pages, for the cost of embedding 55, and a layout that does
// not depend on when the index run happened to commit. An index run then
// finds every photo unchanged and stores the index snapshot, and the
// database's bytes are returned.
func faultBase(t *testing.T, bin string) (photos string, base []byte) {
	t.Helper()
	// The photos' paths have one length on every run (t.TempDir's has
	// not), so the pages of the database, and what each seed damages,
	// are the same.
	dir := t.TempDir()
	photos = filepath.Join(dir, "photos"+strings.Repeat("_", max(0, 100-len(dir))))
	paths, _ := samplePhotos(t)
	copies := []string{"a", "b", "c", "d", "e"}
	for _, sub := range copies {
		if err := os.MkdirAll(filepath.Join(photos, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(photos, sub, filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	index := func(db, root string) string {
		t.Helper()
		cmd := exec.Command(bin, "--db", db, "--model", "vgg16-random", "index", root)
		cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("index %s: %v\n%s", root, err, out)
		}
		return string(out)
	}
	embedded := filepath.Join(t.TempDir(), "embedded.db")
	index(embedded, filepath.Join(photos, "a"))
	var recs []store.Record
	e, err := store.Open(embedded, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Meta()
	if err == nil {
		err = e.ForEachItem(func(it store.Item) error {
			v, err := e.Vector(it.ID)
			recs = append(recs, store.Record{Item: it, Vector: v})
			return err
		})
	}
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(recs, func(a, b store.Record) int { return strings.Compare(a.Item.Path, b.Item.Path) })
	var all []store.Record
	for _, sub := range copies {
		for _, r := range recs {
			c := r.Item
			c.Path = filepath.Join(photos, sub, filepath.Base(r.Item.Path))
			st, err := os.Stat(c.Path)
			if err != nil {
				t.Fatal(err)
			}
			c.Size, c.ModTime = st.Size(), st.ModTime().UnixNano()
			all = append(all, store.Record{Item: c, Vector: r.Vector})
		}
	}
	db := filepath.Join(t.TempDir(), "base.db")
	s, err := store.Open(db, &store.Options{Fingerprint: m.Fingerprint, ModelName: m.ModelName, Dims: m.Dims})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(all)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0 added, 0 updated, 0 removed, %d unchanged", len(all))
	if out := index(db, photos); !strings.Contains(out, want) {
		t.Fatalf("index of the photos does not say %q:\n%s", want, out)
	}
	base, err = os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	return photos, base
}

// fileLayout is where the pages in use and the values of a database lie
// in its file.
type fileLayout struct {
	pageSize int
	pages    []page    // branch, leaf, meta and freelist pages in use
	vectors  []span    // vector values
	items    [][2]span // item records and the path inside each
	pathKeys []span    // keys of the path index
	// Leaf pages that hold item records and path entries.
	itemPages, pathPages []page
}

type page struct {
	off  int
	typ  string
	size int      // with its overflow pages
	keys []string // of its elements, in order
}

// span is a run of bytes in the file and what it is, for the log.
type span struct {
	off, n int
	name   string
}

// String names p by its keys, which stay the same from run to run.
func (p page) String() string {
	if len(p.keys) == 0 {
		return fmt.Sprintf("the %s page", p.typ)
	}
	return fmt.Sprintf("the %s page of keys %s to %s", p.typ, keyText(p.keys[0]), keyText(p.keys[len(p.keys)-1]))
}

// keyText is an id for an 8-byte key, else the key quoted (a path by
// its file's name).
func keyText(k string) string {
	if len(k) == 8 {
		return fmt.Sprint(binary.BigEndian.Uint64([]byte(k)))
	}
	return fmt.Sprintf("%q", filepath.Base(k))
}

// layoutOf reads the layout of the database whose bytes are b: bbolt says
// which pages are in use, and the pages are parsed by bbolt's file format
// (a 16-byte page header, then 16-byte elements, in a leaf flags, pos, key
// size, value size, in a branch pos, key size, page id; the key at the
// element's offset plus pos, a leaf's value after it). Values are told
// apart by their shape. Everything is listed in the order of its keys,
// not of its place in the file: bbolt's free list hands out pages in an
// order that changes from run to run, and a seed must damage the same
// records every time.
func layoutOf(t *testing.T, b []byte) *fileLayout {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layout.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	l := &fileLayout{pageSize: bdb.Info().PageSize}
	err = bdb.View(func(tx *bolt.Tx) error {
		for id := 0; id*l.pageSize < int(tx.Size()); {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return fmt.Errorf("page %d: %v", id, err)
			}
			switch info.Type {
			case "branch", "leaf", "meta", "freelist":
				n := 1 + info.OverflowCount
				p := page{off: id * l.pageSize, typ: info.Type, size: n * l.pageSize}
				p.keys = pageKeys(b, p)
				l.pages = append(l.pages, p)
				id += n
			default:
				// A free page's header is stale: its overflow may run
				// over pages in use since.
				id++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(l.pages, func(a, b page) int {
		return cmp.Or(strings.Compare(a.typ, b.typ), slices.Compare(a.keys, b.keys))
	})
	const dims = 512
	for _, p := range l.pages {
		if p.typ != "leaf" {
			continue
		}
		count := int(binary.LittleEndian.Uint16(b[p.off+10:]))
		for i := range count {
			e := p.off + 16 + 16*i
			flags := binary.LittleEndian.Uint32(b[e:])
			pos := int(binary.LittleEndian.Uint32(b[e+4:]))
			ksize := int(binary.LittleEndian.Uint32(b[e+8:]))
			vsize := int(binary.LittleEndian.Uint32(b[e+12:]))
			k, v := e+pos, e+pos+ksize
			switch {
			case flags != 0: // a bucket
			case ksize == 8 && vsize == 4*dims:
				l.vectors = append(l.vectors, span{v, vsize, "the vector of item " + keyText(string(b[k:v]))})
			case ksize == 8 && vsize > 2 && b[v] >= 1 && b[v] <= 4 && int(b[v+1]) < 128 && 2+int(b[v+1]) < vsize:
				id := keyText(string(b[k:v]))
				l.items = append(l.items, [2]span{{v, vsize, "the record of item " + id}, {v + 2, int(b[v+1]), "the path of item " + id}})
				l.itemPages = appendOnce(l.itemPages, p)
			case vsize == 8 && ksize > 0 && b[k] == '/':
				l.pathKeys = append(l.pathKeys, span{k, ksize, "the path entry of " + keyText(string(b[k:v]))})
				l.pathPages = appendOnce(l.pathPages, p)
			}
		}
	}
	branches := 0
	for _, p := range l.pages {
		if p.typ == "branch" {
			branches++
		}
	}
	if len(l.vectors) == 0 || len(l.items) == 0 || len(l.pathKeys) == 0 || branches == 0 {
		t.Fatalf("layout: %d vectors, %d items, %d path entries, %d branch pages found; the page parser is out of date",
			len(l.vectors), len(l.items), len(l.pathKeys), branches)
	}
	return l
}

// pageKeys lists the keys of a leaf or branch page.
func pageKeys(b []byte, p page) []string {
	if p.typ != "leaf" && p.typ != "branch" {
		return nil
	}
	var keys []string
	for i := range int(binary.LittleEndian.Uint16(b[p.off+10:])) {
		e := p.off + 16 + 16*i
		pos, ksize := binary.LittleEndian.Uint32(b[e+4:]), binary.LittleEndian.Uint32(b[e+8:])
		if p.typ == "branch" {
			pos, ksize = binary.LittleEndian.Uint32(b[e:]), binary.LittleEndian.Uint32(b[e+4:])
		}
		keys = append(keys, string(b[e+int(pos):e+int(pos)+int(ksize)]))
	}
	return keys
}

func appendOnce(s []page, v page) []page {
	if len(s) > 0 && s[len(s)-1].off == v.off {
		return s
	}
	return append(s, v)
}

type faultMode struct {
	name    string
	anyPage bool // may hit any page, losing whole buckets
	damage  func(rng *rand.Rand, b []byte, l *fileLayout) string
}

var faultModes = []faultMode{
	{"vector-bytes", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var what []string
		for range 1 + rng.IntN(3) {
			what = append(what, flipIn(rng, b, l.vectors[rng.IntN(len(l.vectors))], 1+rng.IntN(2)))
		}
		return strings.Join(what, "; ")
	}},
	{"item-path", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var what []string
		for range 1 + rng.IntN(2) {
			what = append(what, flipIn(rng, b, l.items[rng.IntN(len(l.items))][1], 1))
		}
		return strings.Join(what, "; ")
	}},
	{"vector-page", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		// The page of a vector, anywhere in it: its header, element
		// headers, keys or floats.
		p := pageOf(l, l.vectors[rng.IntN(len(l.vectors))])
		return garble(rng, b, p, l.pageSize)
	}},
	{"path-key", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return flipIn(rng, b, l.pathKeys[rng.IntN(len(l.pathKeys))], 1)
	}},
	{"item-record", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return flipIn(rng, b, l.items[rng.IntN(len(l.items))][0], 1+rng.IntN(3))
	}},
	{"vector-page-header", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return garbleHeader(rng, b, pageOf(l, l.vectors[rng.IntN(len(l.vectors))]))
	}},
	{"page-header", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return garbleHeader(rng, b, l.pages[rng.IntN(len(l.pages))])
	}},
	{"page-run", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var p page
		for p.typ != "branch" && p.typ != "leaf" {
			p = l.pages[rng.IntN(len(l.pages))]
		}
		return garble(rng, b, p, p.size)
	}},
	{"items-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return garble(rng, b, l.itemPages[rng.IntN(len(l.itemPages))], l.pageSize)
	}},
	{"paths-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		return garble(rng, b, l.pathPages[rng.IntN(len(l.pathPages))], l.pageSize)
	}},
	{"branch-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var p page
		for p.typ != "branch" {
			p = l.pages[rng.IntN(len(l.pages))]
		}
		// Its elements and keys lie at its start; the rest is unused.
		return garble(rng, b, p, 1024)
	}},
	{"bits", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var what []string
		for range 8 {
			p := l.pages[rng.IntN(len(l.pages))]
			i := rng.IntN(p.size)
			b[p.off+i] ^= 1 << rng.IntN(8)
			what = append(what, fmt.Sprintf("a bit of byte %d of %s", i, p))
		}
		return strings.Join(what, "; ")
	}},
}

// pageOf is the page that holds s (a value of one page or less).
func pageOf(l *fileLayout, s span) page {
	off := s.off - s.off%l.pageSize
	i := slices.IndexFunc(l.pages, func(p page) bool { return p.off == off })
	return l.pages[i]
}

// flipIn changes n random bytes of s to other values and says which.
func flipIn(rng *rand.Rand, b []byte, s span, n int) string {
	var at []string
	for range n {
		i := rng.IntN(s.n)
		b[s.off+i] ^= byte(1 + rng.IntN(255))
		at = append(at, fmt.Sprint(i))
	}
	return fmt.Sprintf("byte %s of %s", strings.Join(at, ", "), s.name)
}

// garble overwrites a run of 16 to 1,024 random bytes inside the first
// size bytes of p.
func garble(rng *rand.Rand, b []byte, p page, size int) string {
	n := 16 + rng.IntN(min(1009, size-16))
	at := rng.IntN(size - n + 1)
	for i := range n {
		b[p.off+at+i] = byte(rng.Uint32())
	}
	return fmt.Sprintf("%d random bytes from byte %d of %s", n, at, p)
}

// garbleHeader overwrites the 16-byte header of p (its id, flags, count
// and overflow) with random bytes.
func garbleHeader(rng *rand.Rand, b []byte, p page) string {
	for i := range 16 {
		b[p.off+i] = byte(rng.Uint32())
	}
	return "the header of " + p.String()
}

// rawControl names the first control byte (other than a newline) or
// invalid UTF-8 in out, or returns "".
func rawControl(out []byte) string {
	if !utf8.Valid(out) {
		return "invalid UTF-8"
	}
	if i := bytes.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }); i >= 0 {
		return fmt.Sprintf("control byte %#x", out[i])
	}
	return ""
}

// photoFiles lists the files under dir.
func photoFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// storedPaths lists the paths of the items in the database at path.
func storedPaths(t *testing.T, path string) []string {
	t.Helper()
	s, err := store.Open(path, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var paths []string
	if err := s.ForEachItem(func(it store.Item) error { paths = append(paths, it.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	return paths
}

// diffSets returns what of want is not in got and what of got is not in
// want.
func diffSets(want, got []string) (missing, extra []string) {
	in := map[string]bool{}
	for _, p := range got {
		in[p] = true
	}
	for _, p := range want {
		if !in[p] {
			missing = append(missing, p)
		}
		delete(in, p)
	}
	for p := range in {
		extra = append(extra, p)
	}
	slices.Sort(extra)
	return missing, extra
}

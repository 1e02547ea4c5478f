package simsearch

import (
	"bytes"
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
	seeds := 48
	modes := faultModes
	if testing.Short() {
		seeds = 12
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

// faultBase indexes the sample photos into a/ and gives copies of them, in
// b/ to e/, items with their original's vector, which is what embedding
// them would store: a few hundred items, so every bucket spans branch and
// leaf pages, for the cost of embedding 55. An index run then finds all
// of them unchanged, and the database's bytes are returned.
func faultBase(t *testing.T, bin string) (photos string, base []byte) {
	t.Helper()
	photos = filepath.Join(t.TempDir(), "photos")
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
	db := filepath.Join(t.TempDir(), "base.db")
	index := func(root string) string {
		t.Helper()
		cmd := exec.Command(bin, "--db", db, "--model", "vgg16-random", "index", root)
		cmd.Env = append(os.Environ(), "SIMSEARCH_MODELS="+testModels.dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("index %s: %v\n%s", root, err, out)
		}
		return string(out)
	}
	index(filepath.Join(photos, "a"))
	s, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	err = s.ForEachItem(func(it store.Item) error {
		v, err := s.Vector(it.ID)
		if err != nil {
			return err
		}
		for _, sub := range copies[1:] {
			c := it
			c.Path = filepath.Join(photos, sub, filepath.Base(it.Path))
			st, err := os.Stat(c.Path)
			if err != nil {
				return err
			}
			c.Size, c.ModTime = st.Size(), st.ModTime().UnixNano()
			recs = append(recs, store.Record{Item: c, Vector: v})
		}
		return nil
	})
	if err == nil {
		_, err = s.Put(recs)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0 added, 0 updated, 0 removed, %d unchanged", len(copies)*len(paths))
	if out := index(photos); !strings.Contains(out, want) {
		t.Fatalf("index of the copies does not say %q:\n%s", want, out)
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
	size     int       // bytes in use: the high-water mark
	pages    []page    // branch, leaf, meta and freelist pages in use
	vectors  []span    // vector values
	items    [][2]span // item records and the path inside each
	pathKeys []span    // keys of the path index
	// Leaf pages (their offsets) that hold item records and path entries.
	itemPages, pathPages []int
}

type page struct {
	off  int
	typ  string
	size int // with its overflow pages
}

type span struct{ off, n int }

// layoutOf reads the layout of the database whose bytes are b: bbolt says
// which pages are in use, and the leaf pages are parsed by bbolt's file
// format (a 16-byte page header, then 16-byte elements: flags, pos, key
// size, value size, the key at the element's offset plus pos and the
// value after it). Values are told apart by their shape.
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
		l.size = int(tx.Size())
		for id := 0; id*l.pageSize < l.size; {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return fmt.Errorf("page %d: %v", id, err)
			}
			n := 1 + info.OverflowCount
			switch info.Type {
			case "branch", "leaf", "meta", "freelist":
				l.pages = append(l.pages, page{off: id * l.pageSize, typ: info.Type, size: n * l.pageSize})
			}
			id += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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
				l.vectors = append(l.vectors, span{v, vsize})
			case ksize == 8 && vsize > 2 && b[v] == 1 && int(b[v+1]) < 128 && 2+int(b[v+1]) < vsize:
				l.items = append(l.items, [2]span{{v, vsize}, {v + 2, int(b[v+1])}})
				l.itemPages = appendOnce(l.itemPages, p.off)
			case vsize == 8 && ksize > 0 && b[k] == '/':
				l.pathKeys = append(l.pathKeys, span{k, ksize})
				l.pathPages = appendOnce(l.pathPages, p.off)
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

func appendOnce(s []int, v int) []int {
	if len(s) > 0 && s[len(s)-1] == v {
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
			s := l.vectors[rng.IntN(len(l.vectors))]
			what = append(what, flipIn(rng, b, s, 1+rng.IntN(2)))
		}
		return "vector bytes " + strings.Join(what, ", ")
	}},
	{"item-path", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var what []string
		for range 1 + rng.IntN(2) {
			it := l.items[rng.IntN(len(l.items))]
			what = append(what, flipIn(rng, b, it[1], 1))
		}
		return "path bytes of item records " + strings.Join(what, ", ")
	}},
	{"vector-page", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		// The page of a vector, anywhere in it: its header, element
		// headers, keys or floats.
		s := l.vectors[rng.IntN(len(l.vectors))]
		off := s.off - s.off%l.pageSize
		return "the page of a vector: " + garble(rng, b, off, l.pageSize)
	}},
	{"path-key", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		s := l.pathKeys[rng.IntN(len(l.pathKeys))]
		return "a key of the path index " + flipIn(rng, b, s, 1)
	}},
	{"item-record", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		it := l.items[rng.IntN(len(l.items))]
		return "an item record " + flipIn(rng, b, it[0], 1+rng.IntN(3))
	}},
	{"vector-page-header", false, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		s := l.vectors[rng.IntN(len(l.vectors))]
		off := s.off - s.off%l.pageSize
		for i := range 16 {
			b[off+i] = byte(rng.Uint32())
		}
		return fmt.Sprintf("the header of the page at %d, which holds a vector", off)
	}},
	{"page-header", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		p := l.pages[rng.IntN(len(l.pages))]
		for i := range 16 {
			b[p.off+i] = byte(rng.Uint32())
		}
		return fmt.Sprintf("the header of %s page at %d", p.typ, p.off)
	}},
	{"page-run", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var p page
		for p.typ != "branch" && p.typ != "leaf" {
			p = l.pages[rng.IntN(len(l.pages))]
		}
		return p.typ + " page: " + garble(rng, b, p.off, p.size)
	}},
	{"items-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		off := l.itemPages[rng.IntN(len(l.itemPages))]
		return "a page of item records: " + garble(rng, b, off, l.pageSize)
	}},
	{"paths-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		off := l.pathPages[rng.IntN(len(l.pathPages))]
		return "a page of the path index: " + garble(rng, b, off, l.pageSize)
	}},
	{"branch-page", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var p page
		for p.typ != "branch" {
			p = l.pages[rng.IntN(len(l.pages))]
		}
		// Its elements and keys lie at its start; the rest is unused.
		return "branch page: " + garble(rng, b, p.off, 1024)
	}},
	{"bits", true, func(rng *rand.Rand, b []byte, l *fileLayout) string {
		var at []string
		for range 8 {
			i := rng.IntN(l.size)
			b[i] ^= 1 << rng.IntN(8)
			at = append(at, fmt.Sprint(i))
		}
		return "8 bits anywhere, at " + strings.Join(at, ", ")
	}},
}

// flipIn changes n random bytes of s to other values and says where.
func flipIn(rng *rand.Rand, b []byte, s span, n int) string {
	var at []string
	for range n {
		i := s.off + rng.IntN(s.n)
		b[i] ^= byte(1 + rng.IntN(255))
		at = append(at, fmt.Sprint(i))
	}
	return "at " + strings.Join(at, ", ")
}

// garble overwrites a run of 16 to 1,024 random bytes inside the size
// bytes from off.
func garble(rng *rand.Rand, b []byte, off, size int) string {
	n := 16 + rng.IntN(min(1009, size-16))
	at := off + rng.IntN(size-n+1)
	for i := range n {
		b[at+i] = byte(rng.Uint32())
	}
	return fmt.Sprintf("%d random bytes at %d", n, at)
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

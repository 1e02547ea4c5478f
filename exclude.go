package simsearch

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// DefaultExcludes returns the folders that NAS systems and desktops fill
// with derived files (thumbnails, recycle bins, snapshots); Index skips
// them unless IndexOptions.NoDefaultExcludes is set. Each call returns a
// new slice.
func DefaultExcludes() []string {
	return []string{
		"@eaDir", "#recycle", "#snapshot", ".thumbnails",
		"System Volume Information", "$RECYCLE.BIN", ".Trash-*",
	}
}

// excluder matches walked paths against exclude globs. A glob without a
// slash matches a file or folder name at any depth; one with a slash
// matches the path relative to the walk's root, where ** stands for any
// number of folders (none included).
type excluder struct {
	names []string   // globs matched against a base name
	paths [][]string // globs matched against the relative path, by segment
}

// newExcluder checks the globs and returns their matcher.
func newExcluder(globs []string) (*excluder, error) {
	x := &excluder{}
	for _, g := range globs {
		if g == "" {
			return nil, fmt.Errorf("exclude: empty pattern")
		}
		g = strings.TrimRight(filepath.ToSlash(g), "/")
		anchored := strings.Contains(g, "/")
		segs := strings.Split(strings.TrimLeft(g, "/"), "/")
		for _, s := range segs {
			if s == "**" {
				continue
			}
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("exclude %q: malformed pattern", g)
			}
		}
		if !anchored && segs[0] != "**" {
			x.names = append(x.names, segs[0])
		} else {
			x.paths = append(x.paths, segs)
		}
	}
	return x, nil
}

// match reports whether the file or folder at rel (relative to its walk
// root, with the OS separator) is excluded.
func (x *excluder) match(rel string) bool {
	if x == nil || rel == "" || rel == "." {
		return false
	}
	rel = filepath.ToSlash(rel)
	base := path.Base(rel)
	for _, g := range x.names {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	if len(x.paths) == 0 {
		return false
	}
	segs := strings.Split(rel, "/")
	for _, g := range x.paths {
		if matchSegments(g, segs) {
			return true
		}
	}
	return false
}

// matchListed reports whether a file named by its absolute path (a listed
// file, which has no walk root) is excluded: a name glob matching the file
// or any folder above it.
func (x *excluder) matchListed(abs string) bool {
	if x == nil {
		return false
	}
	for _, seg := range strings.Split(filepath.ToSlash(abs), "/") {
		for _, g := range x.names {
			if ok, _ := path.Match(g, seg); ok && seg != "" {
				return true
			}
		}
	}
	return false
}

// matchSegments matches a glob split at its slashes against a path split
// at its slashes; a "**" segment matches zero or more path segments.
func matchSegments(glob, segs []string) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegments(glob[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(glob[0], segs[0]); !ok {
			return false
		}
		glob, segs = glob[1:], segs[1:]
	}
	return len(segs) == 0
}

package simsearch

import (
	"path/filepath"
	"sort"
	"strings"
)

// absPaths absolutises paths and sorts them.
func absPaths(paths []string) ([]string, error) {
	out, err := orderedAbs(paths)
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// orderedAbs absolutises paths, keeping their order.
func orderedAbs(paths []string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// underAny reports whether path is one of roots or inside one of them.
func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if under(path, r) {
			return true
		}
	}
	return false
}

// under reports whether path is root or inside it.
func under(path, root string) bool {
	if path == root {
		return true
	}
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	return strings.HasPrefix(path, root)
}

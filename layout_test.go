package simsearch

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is docs/design.md's table: for each package of this
// module (by directory), the packages of this module its non-test files
// may import. "." is the root package.
var allowedImports = map[string][]string{
	".":                            {"classify", "dedup", "index", "internal/evaluate", "internal/extractor", "internal/pgstore", "internal/quantize", "internal/quote", "internal/reference", "internal/scoreplot", "internal/store", "model"},
	"cmd/simsearch":                {".", "classify", "dedup", "internal/atomicfile", "internal/quote", "model", "web"},
	"web":                          {".", "dedup", "internal/atomicfile"},
	"classify":                     {"internal/atomicfile"},
	"model":                        {"internal/atomicfile", "internal/onnx", "internal/onnx/onnxpb"},
	"index":                        {},
	"index/indextest":              {"index"},
	"dedup":                        {"index", "internal/atomicfile", "internal/store"},
	"internal/extractor":           {"index", "internal/onednn", "model"},
	"internal/onednn":              {"internal/onnx", "internal/onnx/onnxpb", "internal/quantize", "model"},
	"internal/extractor/imagetest": {},
	"internal/evaluate":            {},
	"internal/scoreplot":           {"internal/evaluate"},
	"internal/store":               {"internal/quote"},
	"internal/pgstore":             {"index", "internal/quote", "internal/store"},
	"internal/quote":               {},
	"internal/atomicfile":          {},
	"internal/onnx":                {"internal/atomicfile", "internal/onnx/onnxpb"},
	"internal/onnx/onnxpb":         {},
	"internal/onnx/onnxtest":       {"internal/onnx", "internal/onnx/onnxpb"},
	"internal/reference":           {},
	"internal/quantize":            {"internal/onnx", "internal/onnx/onnxpb"},
}

// TestLayout_Imports keeps the package graph what the design says: the
// CLI never reaches the store, the ground floor imports nothing of ours,
// and every package is in the table.
func TestLayout_Imports(t *testing.T) {
	const module = "github.com/simsearch/simsearch"
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || d.Name() == "scripts") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir // another module (bench/)
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		first := !seen[dir]
		seen[dir] = true
		allowed, known := allowedImports[dir]
		if !known {
			if first {
				t.Errorf("package %s is not in allowedImports (docs/design.md's table): add it there and here", dir)
			}
			return nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			var ours string
			switch {
			case p == module:
				ours = "."
			case strings.HasPrefix(p, module+"/"):
				ours = strings.TrimPrefix(p, module+"/")
			default:
				continue
			}
			if !slices.Contains(allowed, ours) {
				t.Errorf("%s imports %s, which docs/design.md does not allow", path, ours)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range allowedImports {
		if !seen[dir] {
			t.Errorf("allowedImports names %s, which has no Go files any more", dir)
		}
	}
}

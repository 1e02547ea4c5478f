//go:build ignore

// apicount counts the exported identifiers a Go user of this module can
// reach: exported top-level constants, variables, functions and types, and
// exported methods and struct fields of exported types, in non-test files
// of every package outside internal/ (and outside nested modules).
//
//	go run scripts/apicount.go [-v]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list the identifiers")
	flag.Parse()
	perPkg := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (name == "internal" || name == "testdata" || strings.HasPrefix(name, ".") || name == "cmd" || name == "scripts") {
				return filepath.SkipDir
			}
			if path != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		for _, c := range f.Comments {
			if strings.HasPrefix(c.Text(), "go:build ignore") {
				return nil
			}
		}
		pkg := filepath.Dir(path)
		add := func(s string) { perPkg[pkg] = append(perPkg[pkg], s) }
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv != nil {
					t := d.Recv.List[0].Type
					if s, ok := t.(*ast.StarExpr); ok {
						t = s.X
					}
					if ix, ok := t.(*ast.IndexExpr); ok {
						t = ix.X
					}
					id, ok := t.(*ast.Ident)
					if !ok || !id.IsExported() {
						continue
					}
					add(id.Name + "." + d.Name.Name)
					continue
				}
				add(d.Name.Name)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								add(n.Name)
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						add(s.Name.Name)
						switch t := s.Type.(type) {
						case *ast.StructType:
							for _, fl := range t.Fields.List {
								for _, n := range fl.Names {
									if n.IsExported() {
										add(s.Name.Name + "." + n.Name)
									}
								}
							}
						case *ast.InterfaceType:
							for _, m := range t.Methods.List {
								for _, n := range m.Names {
									if n.IsExported() {
										add(s.Name.Name + "." + n.Name)
									}
								}
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var pkgs []string
	total, totalTop := 0, 0
	for p := range perPkg {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		ids := perPkg[p]
		sort.Strings(ids)
		total += len(ids)
		top := 0
		for _, id := range ids {
			if !strings.Contains(id, ".") {
				top++
			}
		}
		totalTop += top
		fmt.Printf("%-20s %4d top-level %4d with methods and fields\n", p, top, len(ids))
		if *verbose {
			for _, id := range ids {
				fmt.Printf("    %s\n", id)
			}
		}
	}
	fmt.Printf("%-20s %4d top-level %4d with methods and fields, in %d packages\n", "total", totalTop, total, len(pkgs))
}

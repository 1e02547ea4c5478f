package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/extractor"
	"github.com/simsearch/simsearch/store"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"simsearch": func() { os.Exit(mainExit()) },
	})
}

// sharedModels builds vgg16-random (and its centres) once for all scripts:
// it takes seconds, and every script would otherwise repeat it.
var sharedModels = struct {
	once sync.Once
	dir  string
	err  error
}{}

func modelsDir(t *testing.T) string {
	t.Helper()
	sharedModels.once.Do(func() {
		dir, err := os.MkdirTemp("", "simsearch-models-")
		if err != nil {
			sharedModels.err = err
			return
		}
		sharedModels.dir = dir
		rt, err := extractor.OpenRuntime(nil)
		if err != nil {
			sharedModels.err = err
			return
		}
		defer rt.Close()
		_, sharedModels.err = simsearch.PrepareModel(context.Background(), rt, dir, "vgg16-random", runtime.NumCPU(), io.Discard)
	})
	if sharedModels.err != nil {
		t.Fatalf("prepare vgg16-random: %v", sharedModels.err)
	}
	return sharedModels.dir
}

func TestCLI(t *testing.T) {
	models := modelsDir(t)
	photos, err := filepath.Abs("../../testdata/photos")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SIMSEARCH_MODELS", models)
			env.Setenv("PHOTOS", photos)
			env.Setenv("SIMSEARCH_ORT_LIB", os.Getenv("SIMSEARCH_ORT_LIB"))
			env.Setenv("SIMSEARCH_DB", filepath.Join(env.WorkDir, "db", "simsearch.db"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// holddb opens the database from this (the test) process and
			// keeps it open until the script ends, as another simsearch
			// process would.
			"holddb": func(ts *testscript.TestScript, neg bool, args []string) {
				db, err := store.Open(ts.Getenv("SIMSEARCH_DB"), nil)
				ts.Check(err)
				ts.Defer(func() { db.Close() })
			},
		},
	})
}

package simsearch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/model"
)

// cpu returns an Int8Features that reports flags, whatever this machine has.
func cpu(flags ...string) func() []string { return func() []string { return flags } }

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestNewDatabaseModel_Int8WhereTheCPUIsFast(t *testing.T) {
	dir := t.TempDir() // nothing installed: the default is vgg16-random
	tests := []struct {
		name     string
		features []string
		env      string
		want     string
		int8     bool
	}{
		{"vnni", []string{"avx512_vnni"}, "", "vgg16-random-int8", true},
		{"amx and vnni", []string{"amx_int8", "avx512_vnni"}, "auto", "vgg16-random-int8", true},
		{"no int8 instructions", nil, "", "vgg16-random", false},
		{"turned off", []string{"amx_int8"}, "off", "vgg16-random", false},
		{"forced on", nil, "on", "vgg16-random-int8", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewDatabaseModel(&ModelOptions{Dir: dir, Int8Features: cpu(tt.features...), Getenv: envOf(map[string]string{Int8Env: tt.env})})
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.want || c.Int8 != tt.int8 || c.Float != "vgg16-random" {
				t.Fatalf("got %s (int8 %v, fp32 %s), want %s (int8 %v, fp32 vgg16-random)", c.Name, c.Int8, c.Float, tt.want, tt.int8)
			}
			n := c.Notice()
			if tt.int8 != (n != "") {
				t.Fatalf("notice %q for int8 %v", n, tt.int8)
			}
			if tt.int8 && !strings.Contains(n, "--model vgg16-random (or SIMSEARCH_INT8=off) for fp32") {
				t.Errorf("notice %q does not say how to get fp32", n)
			}
			if faster := strings.Contains(n, "about 3x faster"); tt.int8 && faster != slices.Contains(tt.features, "amx_int8") {
				t.Errorf("notice %q: a speed-up of 3x only with AMX", n)
			}
			for _, f := range tt.features {
				if tt.int8 && !strings.Contains(n, f) {
					t.Errorf("notice %q does not name %s", n, f)
				}
			}
		})
	}
	_, err := NewDatabaseModel(&ModelOptions{Dir: dir, Getenv: envOf(map[string]string{Int8Env: "yes"})})
	if err == nil || !strings.Contains(err.Error(), `SIMSEARCH_INT8="yes": want on, off or auto`) {
		t.Fatalf("bad %s: %v", Int8Env, err)
	}
}

// A database built with vgg16-random keeps it as its default even where a
// new database would get int8: changing the default breaks no database.
func TestChooseModel_TheDatabaseKeepsItsModel(t *testing.T) {
	rt := openRuntime(t)
	randomModel(t, rt)
	db := filepath.Join(t.TempDir(), "s.db")
	fast := &ModelOptions{Dir: testModels.dir, Int8Features: cpu("avx512_vnni")}

	c, err := ChooseModel(&Options{DB: db, ModelOptions: fast})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "vgg16-random-int8" || c.FromDB {
		t.Fatalf("new database: %+v, want vgg16-random-int8", c)
	}
	if _, _, err := DatabaseModel(db, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("DatabaseModel of a missing file: %v, want fs.ErrNotExist", err)
	}

	e, err := Open(context.Background(), &Options{DB: db, ModelOptions: &ModelOptions{Dir: testModels.dir, Name: "vgg16-random"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Index(context.Background(), []string{"testdata/photos/jetty.jpg"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	name, pooling, err := DatabaseModel(db, 0)
	if err != nil || name != "vgg16-random" || pooling != "rmac" {
		t.Fatalf("DatabaseModel = %s, %s, %v; want vgg16-random, rmac", name, pooling, err)
	}
	c, err = ChooseModel(&Options{DB: db, ModelOptions: fast})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "vgg16-random" || c.Pooling != "rmac" || !c.FromDB || c.Notice() != "" {
		t.Fatalf("built database: %+v, want its own vgg16-random/rmac", c)
	}
	// --pooling alone keeps the database's model and is checked as given.
	mac := *fast
	mac.Pooling = "mac"
	if c, err = ChooseModel(&Options{DB: db, ModelOptions: &mac}); err != nil || c.Name != "vgg16-random" || c.Pooling != "mac" {
		t.Fatalf("with --pooling mac: %+v, %v", c, err)
	}

	// Open with no model named uses it: no mismatch, nothing to build.
	for _, ro := range []bool{false, true} {
		e, err := Open(context.Background(), &Options{DB: db, ReadOnly: ro, ModelOptions: fast})
		if err != nil {
			t.Fatalf("read-only %v: %v", ro, err)
		}
		m, merr := e.Model()
		if merr != nil || m.Label() != "vgg16-random/rmac" {
			t.Errorf("read-only %v: model %v, %v; want vgg16-random/rmac", ro, m, merr)
		}
		e.Close()
	}
	// A named model that differs is still refused.
	_, err = Open(context.Background(), &Options{DB: db, ModelOptions: &mac})
	if !errors.Is(err, ErrModelMismatch) {
		t.Fatalf("pooling mac on an rmac database: %v, want ErrModelMismatch", err)
	}
}

func TestQuantizedFrom(t *testing.T) {
	tests := []struct {
		name, base string
		ok         bool
	}{
		{"vgg16-random-int8", "vgg16-random", true},
		{"vgg19-random-int8", "vgg19-random", true},
		{"vgg16-int8", "", false},   // the catalog's, pulled
		{"vgg16-random", "", false}, // not int8
		{"mine-int8", "", false},    // not a catalog model's
	}
	for _, tt := range tests {
		if base, ok := QuantizedFrom(tt.name); base != tt.base || ok != tt.ok {
			t.Errorf("QuantizedFrom(%s) = %s, %v; want %s, %v", tt.name, base, ok, tt.base, tt.ok)
		}
	}
	if !IsInt8("vgg16-int8") || !IsInt8("vgg16-random-int8") || IsInt8("vgg16-random") {
		t.Error("IsInt8 does not go by the -int8 suffix")
	}
}

// A database that cannot be read is not a new one: it gets no int8 guess.
func TestChooseModel_UnreadableDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	if err := os.WriteFile(db, bytes.Repeat([]byte("not bbolt "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ChooseModel(&Options{DB: db, ModelOptions: &ModelOptions{Dir: dir, Int8Features: cpu("amx_int8")}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "vgg16-random" || c.Int8 || c.FromDB {
		t.Fatalf("damaged database: %+v, want the fp32 default", c)
	}
	if _, _, err := DatabaseModel(db, 0); err == nil {
		t.Fatal("DatabaseModel of a damaged file: no error")
	}
}

// An int8 model built offline goes stale with its base: made from a
// vgg16-random of older settings, it is rebuilt, not used.
func TestNotReady_StaleInt8(t *testing.T) {
	e, ok := model.Lookup("vgg16-random")
	if !ok {
		t.Fatal("vgg16-random is not in the catalog")
	}
	s := e.Spec
	s.Name = "vgg16-random-int8"
	s.Center = map[model.Pooling][]float32{s.Pooling: {1}}
	if why := notReady(s); why != "" {
		t.Fatalf("current int8 spec: not ready: %s", why)
	}
	s.Threshold += 0.01
	if why := notReady(s); !strings.Contains(why, "older simsearch") {
		t.Errorf("int8 spec with another threshold than its base: notReady = %q, want it built again", why)
	}
	s = e.Spec
	s.Name = "my-own-int8" // not made offline from a catalog model: never rebuilt
	s.Threshold += 0.01
	s.Center = map[model.Pooling][]float32{s.Pooling: {1}}
	if why := notReady(s); why != "" {
		t.Errorf("user's model: notReady = %q, want ready", why)
	}
}

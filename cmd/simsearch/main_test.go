package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/classify"
	"github.com/simsearch/simsearch/internal/extractor/imagetest"
	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxtest"
	"github.com/simsearch/simsearch/internal/store"
	"github.com/simsearch/simsearch/model"
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
		m, err := simsearch.PrepareModel(context.Background(), &simsearch.ModelOptions{Dir: dir, Name: "vgg16-random"})
		if err != nil {
			sharedModels.err = err
			return
		}
		sharedModels.err = m.Close()
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
			// fp32 by default whatever the CPU, so that no script but
			// int8_default.txtar quantizes (a minute each).
			env.Setenv(simsearch.Int8Env, "off")
			// ONNX Runtime whatever the CPU, so that the scripts' scores do
			// not depend on the machine; engine.txtar runs the others.
			env.Setenv(simsearch.EngineEnv, "ort")
			env.Setenv("PHOTOS", photos)
			env.Setenv("SIMSEARCH_ORT_LIB", os.Getenv("SIMSEARCH_ORT_LIB"))
			env.Setenv("SIMSEARCH_DB", filepath.Join(env.WorkDir, "db", "simsearch.db"))
			// dedup --action delete puts files in the home trash when they
			// are on its file system: keep it in the script's folder.
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, "share"))
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
			// flipbytes FILE OFFSET COUNT inverts COUNT bytes of FILE.
			"flipbytes": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: flipbytes FILE OFFSET COUNT")
				}
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				n, err := strconv.Atoi(args[2])
				ts.Check(err)
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				for i := off; i < off+n && i < len(b); i++ {
					b[i] ^= 0xff
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
			},
			// flipdatapage FILE inverts the body of one bbolt leaf page of
			// FILE that holds data rather than the database's structure: not
			// the meta bucket, not the page naming the buckets. Where that
			// page lies depends on the sizes of what was written (the
			// version string among them), so a fixed offset would hit the
			// meta bucket on some builds.
			"flipdatapage": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: flipdatapage FILE")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				ts.Check(flipDataPage(b))
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
			},
			// exifjpeg SRC DST DATE OFFSET MAKE MODEL writes the JPEG SRC
			// to DST with an APP1 EXIF block holding DateTimeOriginal
			// ("2019:05:02 10:11:12"), OffsetTimeOriginal, Make and Model
			// (empty ones left out).
			"exifjpeg": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 6 {
					ts.Fatalf("usage: exifjpeg SRC DST DATE OFFSET MAKE MODEL")
				}
				jpg, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				block := imagetest.EXIFBlock(binary.BigEndian, 1, imagetest.EXIFTime{Original: args[2], Offset: args[3], Make: args[4], Model: args[5]})
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), imagetest.InsertAPP1(jpg, block), 0o600))
			},
			// truncatefile FILE SIZE cuts FILE to SIZE bytes.
			"truncatefile": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: truncatefile FILE SIZE")
				}
				n, err := strconv.ParseInt(args[1], 10, 64)
				ts.Check(err)
				ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
			},
			// writeencoder FILE SIZE DIMS writes a tiny image encoder whose
			// output is one DIMS-d vector per SIZE×SIZE image.
			"writeencoder": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: writeencoder FILE SIZE DIMS")
				}
				size, err := strconv.Atoi(args[1])
				ts.Check(err)
				dims, err := strconv.Atoi(args[2])
				ts.Check(err)
				ts.Check(onnx.WriteModel(ts.MkAbs(args[0]), onnxtest.NewEncoder(size, 8, dims, 1).Model))
			},
			// classifiermodel DIR NAME installs NAME in DIR: a tiny VGG
			// (16×16 input) with a 1,000-class ImageNet classifier whose
			// weights are zero and whose bias is 3 for tiger, 2 for tiger
			// shark and 1 for tabby, so every image scores the same known
			// logits. Its trunk has random weights and its spec says so.
			"classifiermodel": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: classifiermodel DIR NAME")
				}
				ts.Check(buildClassifierModel(ts.MkAbs(args[0]), args[1]))
			},
			// headfile DIR NAME FILE writes a head for model NAME in DIR
			// (its default pooling) to FILE: classes "up" and "down",
			// whose weights are all 1 and all -1, so a photo is "up" when
			// its embedding's components sum above 0.
			"headfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: headfile DIR NAME FILE")
				}
				m, err := simsearch.LoadModel(context.Background(), &simsearch.ModelOptions{Dir: ts.MkAbs(args[0]), Name: args[1]})
				ts.Check(err)
				defer m.Close()
				d := m.Spec().Channels
				w := make([]float32, 2*d)
				for i := range d {
					w[i], w[d+i] = 1, -1
				}
				ts.Check(classify.SaveHead(ts.MkAbs(args[2]), &classify.Head{
					Version: classify.HeadVersion, Model: args[1], Pooling: string(m.Pooling()), Fingerprint: m.Fingerprint(),
					Dim: d, Classes: []classify.Class{{ID: "up", Name: "up"}, {ID: "down", Name: "down"}}, W: w, B: []float32{0, 0},
				}))
			},
			// copymodels DIR copies the shared models directory to DIR, for
			// scripts that damage a model.
			"copymodels": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: copymodels DIR")
				}
				ts.Check(os.CopyFS(ts.MkAbs(args[0]), os.DirFS(models)))
			},
		},
	})
}

// buildClassifierModel is the classifiermodel command.
func buildClassifierModel(dir, name string) error {
	cfg := onnx.VGGConfig{Name: name, Size: 16, InChannels: 3, Blocks: [][]int{{4}, {8}}, Dense: []int{1000}, Seed: 11}
	v, err := onnx.NewVGG(cfg)
	if err != nil {
		return err
	}
	d := &v.Weights.Dense[0]
	clear(d.W)
	d.B[292], d.B[3], d.B[281] = 3, 2, 1
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name+".onnx")
	if err := onnx.WriteModel(path, v.Model); err != nil {
		return err
	}
	spec := model.Spec{
		Name: name, Description: "tiny classifier, " + model.RandomDescription, Path: path,
		Input: "data", Output: v.Feature.Name, Channels: v.Feature.C, GridH: v.Feature.H, GridW: v.Feature.W,
		Pre: model.TorchPreprocess(16), Pooling: model.GAP, Threshold: 0.9, Random: true,
		Logits: v.Output, Classes: 1000, Labels: model.LabelsImageNet,
	}
	if err := model.SaveSpec(filepath.Join(dir, name+".json"), spec); err != nil {
		return err
	}
	m, err := simsearch.PrepareModel(context.Background(), &simsearch.ModelOptions{Dir: dir, Name: name, Threads: 1})
	if err != nil {
		return err
	}
	return m.Close()
}

// flipDataPage inverts, after its 16-byte header, the last leaf page in
// use in the bbolt file b (below the high-water mark, not on the
// freelist) that names neither a bucket nor a meta key.
func flipDataPage(b []byte) error {
	if len(b) < 32 {
		return fmt.Errorf("%d bytes: not a bbolt file", len(b))
	}
	le := binary.LittleEndian
	size := int(le.Uint32(b[24:28])) // the meta page's page size
	if size < 512 || size > 1<<20 || len(b) < 2*size {
		return fmt.Errorf("page size %d: not a bbolt file", size)
	}
	// The newer of the two meta pages: its freelist page and high-water mark.
	meta := b[16:]
	if other := b[size+16:]; le.Uint64(other[48:56]) > le.Uint64(meta[48:56]) {
		meta = other
	}
	freelist, hwm := le.Uint64(meta[32:40]), le.Uint64(meta[40:48])
	free := map[uint64]bool{}
	if off := int(freelist) * size; freelist < hwm && off+size <= len(b) {
		page := b[off : off+size]
		n, ids := int(le.Uint16(page[10:12])), page[16:]
		if n == 0xffff { // the count overflowed into the first element
			n, ids = int(le.Uint64(ids[:8])), ids[8:]
		}
		for i := 0; i < n && 8*i+8 <= len(ids); i++ {
			free[le.Uint64(ids[8*i:])] = true
		}
	}
	structure := [][]byte{[]byte("schema_version"), []byte("fingerprint"), []byte("items_version"), []byte("vectors"), []byte("snapshot"), []byte("chunks")}
	found := -1
	for id := uint64(2); id < hwm && int(id+1)*size <= len(b); id++ {
		off := int(id) * size
		page := b[off : off+size]
		const leaf = 0x02
		if free[id] || le.Uint16(page[8:10])&leaf == 0 {
			continue
		}
		if !slices.ContainsFunc(structure, func(k []byte) bool { return bytes.Contains(page, k) }) {
			found = off
		}
	}
	if found < 0 {
		return errors.New("no data page")
	}
	for i := found + 16; i < found+size; i++ {
		b[i] ^= 0xff
	}
	return nil
}

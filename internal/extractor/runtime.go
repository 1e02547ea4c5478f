package extractor

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// ErrRuntimeUnavailable is returned when this binary was built without cgo,
// so ONNX Runtime cannot be loaded at all.
var ErrRuntimeUnavailable = errors.New("onnx runtime unavailable: simsearch was built without cgo")

// ErrNoLibrary is returned when the ONNX Runtime shared library was not found
// in any of the places searched. The wrapping error lists them.
var ErrNoLibrary = errors.New("onnx runtime library not found")

// LibraryEnv is the environment variable that names the ONNX Runtime shared
// library explicitly.
const LibraryEnv = "SIMSEARCH_ORT_LIB"

// libraryNames are the file names tried beside the binary and on the system
// search path, most specific first.
var libraryNames = []string{"libonnxruntime.so.1", "libonnxruntime.so"}

// LibraryCandidates lists where the ONNX Runtime library is looked for, in
// order: $SIMSEARCH_ORT_LIB, lib/ beside the executable (and ../lib/ for
// the bin/ layout of a source checkout), then the bare names, which the
// system's dynamic loader resolves.
func LibraryCandidates(getenv func(string) string, executable string) []string {
	var c []string
	if p := getenv(LibraryEnv); p != "" {
		return []string{p}
	}
	if executable != "" {
		dir := filepath.Dir(executable)
		for _, d := range []string{filepath.Join(dir, "lib"), filepath.Join(dir, "..", "lib")} {
			for _, n := range libraryNames {
				c = append(c, filepath.Join(d, n))
			}
		}
	}
	return append(c, libraryNames...)
}

// RuntimeOptions configure OpenRuntime. The zero value searches the usual
// places (see LibraryCandidates).
type RuntimeOptions struct {
	// Library is an explicit path to libonnxruntime; it overrides the search.
	Library string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

func (o *RuntimeOptions) candidates() []string {
	if o != nil && o.Library != "" {
		return []string{o.Library}
	}
	getenv := os.Getenv
	if o != nil && o.Getenv != nil {
		getenv = o.Getenv
	}
	exe, _ := os.Executable()
	if exe != "" {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
	}
	return LibraryCandidates(getenv, exe)
}

// SessionOptions configure a Session.
type SessionOptions struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means all cores.
	Threads int
	// CacheDir keeps the graph ONNX Runtime optimised for this model,
	// runtime version and CPU, so that the next process loads it instead
	// of optimising again (about 3× faster to open VGG16). "" means no
	// cache; a directory that cannot be written just means none either.
	CacheDir string
	// Log receives a one-line note when a cached graph is unusable and is
	// replaced; nil discards it.
	Log io.Writer

	// The zero values of the three below are the defaults, chosen by
	// measurement: peak memory of the VGG16 trunk's session at batch 1-8
	// (arena and memory pattern each on and off) and of `simsearch
	// index` (memory_test.go), speed in BenchmarkPipelineTuning.

	// Spin lets ONNX Runtime's intra-op threads spin between the parts of
	// a run instead of sleeping. Off: spinning threads take the cores the
	// decoding goroutines need; the whole pipeline ran 20% slower with it
	// (see DefaultBatch), and VGG16's convolutions are long enough that
	// waking a sleeping thread costs nothing measurable.
	Spin bool
	// MemPattern lets ONNX Runtime plan one block for all of a run's
	// activations from the first run of each batch size. Off: the plan
	// holds every activation at once (417 MB over the loaded model at
	// batch 8, against 253 MB without it).
	MemPattern bool
	// NoArena turns ONNX Runtime's CPU memory arena off. The arena stays
	// on: without it every activation is a malloc, and glibc keeps the
	// freed blocks, which peaks higher than the arena does.
	NoArena bool
}

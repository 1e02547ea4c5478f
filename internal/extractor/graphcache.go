package extractor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch/model"
)

// graphLevel names the optimisation level a cached graph was made at; it
// is part of the key so that a change of level is a new file.
const graphLevel = "all"

// cacheEnv is what, besides the model and the thread count, decides the
// optimised graph: ONNX Runtime's version and the CPU it chose kernels and
// layouts for.
type cacheEnv struct {
	version string // ONNX Runtime version
	cpu     string // see cpuIdentity
}

// cacheFile returns where spec's graph optimised for threads lives under
// dir for env, or "" when it cannot be keyed safely: no directory, no model hash, or an
// unknown CPU (a graph optimised at level all is specific to the CPU).
func cacheFile(dir string, spec model.Spec, threads int, env cacheEnv) string {
	if dir == "" || spec.SHA256 == "" || env.version == "" || env.cpu == "" {
		return ""
	}
	fi, err := os.Stat(spec.Path)
	if err != nil {
		return ""
	}
	h := sha256.New()
	// The file's size and time catch a model replaced in place without
	// its spec's hash being updated. Threads count too: the bytes ONNX
	// Runtime 1.24.3 writes differ between two runs even at the same
	// threads, so that they leave the graph alone could not be checked.
	fmt.Fprintf(h, "model %s\nsize %d\nmtime %d\nort %s\ncpu %s\nlevel %s\nthreads %d\ninput %s\noutputs %s %s\n",
		spec.SHA256, fi.Size(), fi.ModTime().UnixNano(), env.version, env.cpu, graphLevel, threads,
		spec.Input, spec.Output, spec.Logits)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	return filepath.Join(dir, spec.Name+"-"+modelTag(spec)+"-"+key+".onnx")
}

// modelTag is the part of a cache file's name that tells which model file
// it was made from, so that pruneCache can tell the files of a model
// since rebuilt or replaced.
func modelTag(spec model.Spec) string {
	t := strings.ToLower(spec.SHA256)
	if len(t) > 12 {
		t = t[:12]
	}
	return t
}

// staleTemp is the age after which a temporary cache file is taken to be
// left by a killed process rather than being written now.
const staleTemp = time.Hour

// pruneCache removes the cache files of spec's model made from another
// model file (a rebuilt or re-pulled model) and the temporary files of
// killed processes: each is as big as the model. Files of other models,
// and of this one for other threads, runtimes or CPUs, are left alone.
func pruneCache(dir string, spec model.Spec) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	tag := modelTag(spec)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), spec.Name+"-")
		if !ok || e.IsDir() {
			continue
		}
		if strings.Contains(rest, ".onnx.tmp-") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		t, key, ok := strings.Cut(strings.TrimSuffix(rest, ".onnx"), "-")
		if ok && t != tag && len(key) == 16 && isHex(t) && isHex(key) && strings.HasSuffix(rest, ".onnx") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && s != ""
}

// cpuFlag reports whether f is one of the instruction set extensions that change which kernels
// and blocked layouts ONNX Runtime picks.
func cpuFlag(f string) bool {
	return f == "avx" || f == "avx2" || f == "fma" || f == "f16c" ||
		strings.HasPrefix(f, "avx512") || strings.HasPrefix(f, "amx") || strings.Contains(f, "vnni") ||
		f == "asimd" || f == "sve" || f == "sve2" || f == "i8mm" || f == "bf16" || f == "asimddp"
}

// cpuIdentity describes the CPU for the cache key: its model name and the
// flags cpuFlag keeps, read from r in /proc/cpuinfo format. It is "" when
// neither is found.
func cpuIdentity(r io.Reader) string {
	name, all := readCPUInfo(r)
	var flags []string
	for _, f := range all {
		if cpuFlag(f) {
			flags = append(flags, f)
		}
	}
	if name == "" && len(flags) == 0 {
		return ""
	}
	slices.Sort(flags)
	return fmt.Sprintf("%s/%s [%s]", runtime.GOARCH, name, strings.Join(flags, " "))
}

// hostCPU is cpuIdentity of this machine, "" where /proc/cpuinfo is
// missing (then no graph is cached).
func hostCPU() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return cpuIdentity(f)
}

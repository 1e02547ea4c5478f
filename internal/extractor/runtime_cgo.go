//go:build cgo

package extractor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/simsearch/simsearch/model"
)

// The ONNX Runtime environment is one per process inside the C library, so
// Runtime values share it through a reference count.
var (
	envMu   sync.Mutex
	envRefs int
	envLib  string
)

// Runtime is an open ONNX Runtime environment. Create it with OpenRuntime and
// release it with Close; sessions must be closed before their runtime.
type Runtime struct {
	lib    string
	closed bool
}

// OpenRuntime loads the ONNX Runtime shared library and creates the
// environment. It tries each candidate location in order and, when none
// loads, returns an error wrapping ErrNoLibrary that says what was tried.
func OpenRuntime(opts *RuntimeOptions) (*Runtime, error) {
	envMu.Lock()
	defer envMu.Unlock()
	if envRefs > 0 {
		envRefs++
		return &Runtime{lib: envLib}, nil
	}
	var tried []string
	for _, p := range opts.candidates() {
		if strings.ContainsRune(p, '/') {
			if _, err := os.Stat(p); err != nil {
				tried = append(tried, p+" (not found)")
				continue
			}
		}
		ort.SetSharedLibraryPath(p)
		err := ort.InitializeEnvironment(ort.WithLogLevelError())
		if err == nil {
			envRefs, envLib = 1, p
			return &Runtime{lib: p}, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", p, firstLine(err)))
	}
	return nil, fmt.Errorf("%w; tried: %s", ErrNoLibrary, strings.Join(tried, "; "))
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Library returns the path of the loaded shared library.
func (r *Runtime) Library() string { return r.lib }

// Version returns the ONNX Runtime version string, e.g. "1.24.3".
func (r *Runtime) Version() string { return ort.GetVersion() }

// Close releases this handle on the environment; the last one destroys it.
func (r *Runtime) Close() error {
	envMu.Lock()
	defer envMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	envRefs--
	if envRefs == 0 {
		return ort.DestroyEnvironment()
	}
	return nil
}

// Session runs one model's feature output, and its classifier output when
// the spec names one (Spec.Logits), on batches of preprocessed images. It
// is safe for concurrent use.
type Session struct {
	spec model.Spec
	s    *ort.DynamicAdvancedSession
	// per-image sizes
	inLen, outLen int
	cache         string // the cached optimised graph, "" when none
	fromCache     bool   // whether the session was loaded from it
}

// GraphCache returns the file holding this model's optimised graph ("" when
// the session keeps none) and whether the session was loaded from it
// rather than optimised now.
func (s *Session) GraphCache() (path string, loaded bool) { return s.cache, s.fromCache }

// NewSession opens spec's ONNX file with graph optimisation at its highest
// level and the requested intra-op threads. With opts.CacheDir set it
// loads the graph optimised by an earlier process for the same model,
// runtime and CPU, or optimises it and keeps the result there.
func (r *Runtime) NewSession(spec model.Spec, opts *SessionOptions) (*Session, error) {
	var o SessionOptions
	if opts != nil {
		o = *opts
	}
	var env cacheEnv
	if o.CacheDir != "" {
		env = cacheEnv{version: ort.GetVersion(), cpu: hostCPU()}
	}
	return r.newSession(spec, o, env)
}

func (r *Runtime) newSession(spec model.Spec, o SessionOptions, env cacheEnv) (*Session, error) {
	if spec.Path == "" {
		return nil, errors.New("open model: spec has no file path")
	}
	if _, err := os.Stat(spec.Path); err != nil {
		return nil, fmt.Errorf("open model %s: %w", spec.Name, err)
	}
	outputs := []string{spec.Output}
	if spec.Logits != "" {
		if spec.Classes <= 0 {
			return nil, fmt.Errorf("open model %s: classifier output %s has %d classes", spec.Name, spec.Logits, spec.Classes)
		}
		outputs = append(outputs, spec.Logits)
	}
	threads := runtime.NumCPU()
	if o.Threads > 0 {
		threads = o.Threads
	}
	n := spec.Pre.Size
	sess := &Session{
		spec:   spec,
		inLen:  3 * n * n,
		outLen: spec.Channels * spec.GridH * spec.GridW,
		cache:  cacheFile(o.CacheDir, spec, threads, env),
	}
	if sess.cache != "" {
		if _, err := os.Stat(sess.cache); err == nil {
			// Optimising again would redo what the file already holds.
			s, err := openSession(sess.cache, spec, outputs, threads, ort.GraphOptimizationLevelDisableAll, "", o)
			if err == nil {
				sess.s, sess.fromCache = s, true
				return sess, nil
			}
			if o.Log != nil {
				fmt.Fprintf(o.Log, "ignoring the cached graph %s, which ONNX Runtime could not load; optimising the model again\n", sess.cache)
			}
			os.Remove(sess.cache)
		}
	}
	tmp := sess.tempCache()
	s, err := openSession(spec.Path, spec, outputs, threads, ort.GraphOptimizationLevelEnableAll, tmp, o)
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		return nil, err
	}
	sess.s = s
	// Renamed only once ONNX Runtime has written it all: a process killed
	// before leaves a temporary file that is never loaded.
	if tmp != "" {
		if os.Rename(tmp, sess.cache) != nil {
			os.Remove(tmp)
			sess.cache = ""
		} else {
			pruneCache(o.CacheDir, spec)
			if err := sess.reopen(outputs, threads, o); err != nil {
				return nil, err
			}
		}
	}
	return sess, nil
}

// reopen replaces a session that has just optimised the graph with one
// loaded from the cache file it wrote. Optimising holds the model several
// times over (parsed, folded, pre-packed, serialised): 100-200 MB on
// VGG16 that the C allocator keeps once freed, on top of what the run
// then needs, unless it is handed back to the system now. A cache file
// that does not load is not used: the model is optimised again.
func (s *Session) reopen(outputs []string, threads int, o SessionOptions) error {
	if err := s.s.Destroy(); err != nil {
		return fmt.Errorf("open model %s: %w", s.spec.Name, err)
	}
	releaseFreedMemory()
	r, err := openSession(s.cache, s.spec, outputs, threads, ort.GraphOptimizationLevelDisableAll, "", o)
	if err == nil {
		s.s = r // still "optimised now" for GraphCache: this process did it
		return nil
	}
	s.cache = ""
	r, err = openSession(s.spec.Path, s.spec, outputs, threads, ort.GraphOptimizationLevelEnableAll, "", o)
	if err != nil {
		return err
	}
	s.s = r
	return nil
}

// tempCache creates the temporary file ONNX Runtime writes the optimised
// graph to, beside the cache file; "" (and no cache) when that directory
// cannot be written.
func (s *Session) tempCache() string {
	if s.cache == "" {
		return ""
	}
	dir := filepath.Dir(s.cache)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.cache = ""
		return ""
	}
	f, err := os.CreateTemp(dir, filepath.Base(s.cache)+".tmp-*")
	if err != nil {
		s.cache = ""
		return ""
	}
	f.Close()
	// Readable by all, like the model beside it (CreateTemp makes 0600).
	os.Chmod(f.Name(), 0o644)
	return f.Name()
}

// openSession opens path at the given optimisation level, writing the
// optimised graph to save unless it is "", with o's spinning and memory
// settings.
func openSession(path string, spec model.Spec, outputs []string, threads int, level ort.GraphOptimizationLevel, save string, o SessionOptions) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("set threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("set threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("set optimisation level: %w", err)
	}
	if err := so.SetCpuMemArena(!o.NoArena); err != nil {
		return nil, fmt.Errorf("set memory arena: %w", err)
	}
	if err := so.SetMemPattern(o.MemPattern); err != nil {
		return nil, fmt.Errorf("set memory pattern: %w", err)
	}
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", boolDigit(o.Spin)); err != nil {
		return nil, fmt.Errorf("set spinning: %w", err)
	}
	if save != "" {
		if err := so.SetOptimizedModelFilePath(save); err != nil {
			return nil, fmt.Errorf("set optimised model path: %w", err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{spec.Input}, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("open model %s (%s): %w: %s", spec.Name, path, ErrModelFile, firstLine(err))
	}
	return s, nil
}

// boolDigit is a session config entry's "1" or "0".
func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Run feeds batch preprocessed images (input holds batch*3*Size*Size values
// in the spec's layout) and returns the feature maps, batch*C*H*W values,
// each map in C×H×W order whatever the model's layout.
func (s *Session) Run(input []float32, batch int) ([]float32, error) {
	return s.RunContext(context.Background(), input, batch)
}

// RunContext is Run that ONNX Runtime abandons when ctx is done, returning
// ctx's error: a batch through VGG16 takes seconds on a small machine, too
// long to make an interrupted run wait for.
func (s *Session) RunContext(ctx context.Context, input []float32, batch int) ([]float32, error) {
	fm, _, err := s.RunScores(ctx, input, batch)
	return fm, err
}

// RunScores is RunContext that also returns the classifier's raw scores,
// batch*Spec.Classes values, from the same run of the network; scores is
// nil when the spec names no classifier output.
func (s *Session) RunScores(ctx context.Context, input []float32, batch int) (features, scores []float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if batch <= 0 || len(input) != batch*s.inLen {
		return nil, nil, fmt.Errorf("run model: input holds %d values, want %d×%d", len(input), batch, s.inLen)
	}
	n := int64(s.spec.Pre.Size)
	shape := ort.NewShape(int64(batch), 3, n, n)
	if s.spec.Pre.Layout == model.NHWC {
		shape = ort.NewShape(int64(batch), n, n, 3)
	}
	in, err := ort.NewTensor(shape, input)
	if err != nil {
		return nil, nil, fmt.Errorf("run model: input tensor: %w", err)
	}
	defer in.Destroy()
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("run model: options: %w", err)
	}
	// The terminate flag is set from another goroutine; the options are
	// destroyed only once that call has returned.
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		ro.Terminate()
	})
	defer func() {
		if !stop() {
			<-terminated
		}
		ro.Destroy()
	}()
	outputs := []ort.Value{nil}
	if s.spec.Logits != "" {
		outputs = append(outputs, nil)
	}
	if err := s.s.RunWithOptions([]ort.Value{in}, outputs, ro); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, cerr
		}
		return nil, nil, fmt.Errorf("run model %s: %s", s.spec.Name, firstLine(err))
	}
	defer func() {
		for _, o := range outputs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	out, ok := outputs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("run model %s: output %s is not a float32 tensor", s.spec.Name, s.spec.Output)
	}
	got := out.GetShape()
	if err := s.checkShape(got, batch); err != nil {
		return nil, nil, err
	}
	data := out.GetData()
	res := make([]float32, len(data))
	if s.spec.OutputLayout == model.NHWC {
		c, hw := s.spec.Channels, s.spec.GridH*s.spec.GridW
		for b := 0; b < batch; b++ {
			src, dst := data[b*s.outLen:(b+1)*s.outLen], res[b*s.outLen:(b+1)*s.outLen]
			for p := 0; p < hw; p++ {
				for ch := 0; ch < c; ch++ {
					dst[ch*hw+p] = src[p*c+ch]
				}
			}
		}
	} else {
		copy(res, data)
	}
	if s.spec.Logits == "" {
		return res, nil, nil
	}
	lt, ok := outputs[1].(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("run model %s: classifier output %s is not a float32 tensor", s.spec.Name, s.spec.Logits)
	}
	if err := s.checkScoresShape(lt.GetShape(), batch); err != nil {
		return nil, nil, err
	}
	return res, append([]float32(nil), lt.GetData()...), nil
}

// checkScoresShape accepts batch×Classes, with any 1s after it (a
// classifier ending in a 1×1 convolution gives N×Classes×1×1).
func (s *Session) checkScoresShape(got ort.Shape, batch int) error {
	ok := len(got) >= 2 && got[0] == int64(batch) && got[1] == int64(s.spec.Classes)
	for _, d := range got[min(2, len(got)):] {
		ok = ok && d == 1
	}
	if ok {
		return nil
	}
	return fmt.Errorf("run model %s: classifier output %s has shape %v, the spec expects %d scores per image",
		s.spec.Name, s.spec.Logits, got, s.spec.Classes)
}

func (s *Session) checkShape(got ort.Shape, batch int) error {
	c, h, w := int64(s.spec.Channels), int64(s.spec.GridH), int64(s.spec.GridW)
	b := int64(batch)
	want := ort.NewShape(b, c, h, w)
	if s.spec.OutputLayout == model.NHWC {
		want = ort.NewShape(b, h, w, c)
	}
	if got.Equals(want) || h == 1 && w == 1 && got.Equals(ort.NewShape(b, c)) {
		return nil // an N×D output is a 1×1 map: one vector per image
	}
	return fmt.Errorf("run model %s: feature output %s has shape %v, the spec expects %d×%d×%d per image",
		s.spec.Name, s.spec.Output, got, c, h, w)
}

// Close releases the session.
func (s *Session) Close() error { return s.s.Destroy() }

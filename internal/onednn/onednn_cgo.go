//go:build cgo && !nodnnl

package onednn

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "shim.h"

onednn_api onednn;

// onednn_open loads the library at path and resolves the functions of
// shim.h; it returns the handle, or NULL with *err saying why.
static void *onednn_open(const char *path, const char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { *err = dlerror(); return NULL; }
#define SYM(f) if (!(*(void **)&onednn.f = dlsym(h, "dnnl_" #f))) { *err = "no dnnl_" #f; dlclose(h); return NULL; }
	SYM(engine_create)
	SYM(engine_destroy)
	SYM(stream_create)
	SYM(stream_destroy)
	SYM(stream_wait)
	SYM(memory_destroy)
	SYM(memory_get_data_handle)
	SYM(primitive_create)
	SYM(primitive_destroy)
	SYM(primitive_execute)
	SYM(primitive_desc_destroy)
	SYM(primitive_desc_query)
	SYM(version)
	SYM(get_effective_cpu_isa)
#undef SYM
	// The OpenMP runtime libdnnl was linked with, found through it.
	*(void **)&onednn.omp_set_num_threads = dlsym(h, "omp_set_num_threads");
	return h;
}

static dnnl_status_t x_engine(dnnl_engine_t *e) { return onednn.engine_create(e, dnnl_cpu, 0); }
static void x_engine_destroy(dnnl_engine_t e) { onednn.engine_destroy(e); }
static dnnl_status_t x_stream(dnnl_stream_t *s, dnnl_engine_t e) { return onednn.stream_create(s, e, dnnl_stream_default_flags); }
static void x_stream_destroy(dnnl_stream_t s) { onednn.stream_destroy(s); }
static dnnl_status_t x_stream_wait(dnnl_stream_t s) { return onednn.stream_wait(s); }
static void x_memory_destroy(dnnl_memory_t m) { onednn.memory_destroy(m); }
static void *x_memory_data(dnnl_memory_t m) {
	void *p = NULL;
	onednn.memory_get_data_handle(m, &p);
	return p;
}
static dnnl_status_t x_primitive(dnnl_primitive_t *p, dnnl_primitive_desc_t pd) { return onednn.primitive_create(p, pd); }
static void x_primitive_destroy(dnnl_primitive_t p) { onednn.primitive_destroy(p); }
static void x_pd_destroy(dnnl_primitive_desc_t pd) { onednn.primitive_desc_destroy(pd); }
static dnnl_status_t x_execute(dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args) {
	return onednn.primitive_execute(p, s, n, args);
}
static const char *x_impl(dnnl_primitive_desc_t pd) {
	const char *s = NULL;
	if (onednn.primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success) return "";
	return s ? s : "";
}
static void x_version(int *v) {
	const dnnl_version_t *d = onednn.version();
	v[0] = d->major; v[1] = d->minor; v[2] = d->patch;
}
static int x_isa(void) { return (int)onednn.get_effective_cpu_isa(); }
static int x_set_threads(int n) {
	if (!onednn.omp_set_num_threads) return 0;
	onednn.omp_set_num_threads(n);
	return 1;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/model"
)

// LibraryName is the file dlopen looks for: the SONAME of oneDNN 2.x
// (Debian's libdnnl2).
const LibraryName = "libdnnl.so.2"

// The library is loaded once per process (dlopen is process-wide
// anyway); executors share it.
var lib struct {
	once    sync.Once
	err     error
	version string
}

// waitPolicy is what OpenMP threads do between parallel regions. Passive:
// they sleep on a futex at once. OpenMP's default spins for a while
// first, taking the cores the decoding goroutines need between layers
// and batches, as ONNX Runtime's spinning did (20% off the pipeline, see
// extractor.DefaultBatch); waking a sleeping thread costs microseconds
// against the milliseconds of each VGG layer. It is set only when the
// user has not set OMP_WAIT_POLICY, before the library (and its OpenMP
// runtime, which reads it once) loads. Threads are not bound to cores
// (OMP_PROC_BIND stays unset) so that the scheduler can move them off a
// core that a decoder holds.
const waitPolicy = "passive"

func load() error {
	lib.once.Do(func() {
		if os.Getenv("OMP_WAIT_POLICY") == "" {
			os.Setenv("OMP_WAIT_POLICY", waitPolicy)
		}
		path := LibraryName
		if p := os.Getenv(LibraryEnv); p != "" {
			path = p
		}
		name := C.CString(path)
		defer C.free(unsafe.Pointer(name))
		var why *C.char
		h := C.onednn_open(name, &why)
		if h == nil {
			lib.err = fmt.Errorf("load %s: %s", path, C.GoString(why))
			return
		}
		if err := load2(h); err != nil {
			lib.err = fmt.Errorf("load %s: %w", path, err)
			return
		}
		var v [3]C.int
		C.x_version(&v[0])
		lib.version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
	})
	return lib.err
}

// Available reports whether oneDNN loads in this process; why says what
// failed when it does not (the library missing, or not version 2.x).
func Available() (ok bool, why string) {
	if err := load(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Version is the loaded library's version, e.g. "2.6.3"; "" when it
// does not load.
func Version() string {
	if load() != nil {
		return ""
	}
	return lib.version
}

// ISA is the most capable instruction set oneDNN uses on this CPU, e.g.
// "avx512_core_amx" (AMX with AVX-512 BF16 and VNNI) or
// "avx512_core_bf16"; "" when the library does not load.
func ISA() string {
	if load() != nil {
		return ""
	}
	isa := int(C.x_isa())
	for _, n := range []struct {
		isa  int
		name string
	}{
		{int(C.dnnl_cpu_isa_avx512_core_amx), "avx512_core_amx"},
		{int(C.dnnl_cpu_isa_avx512_core_bf16), "avx512_core_bf16"},
		{int(C.dnnl_cpu_isa_avx512_core_vnni), "avx512_core_vnni"},
		{int(C.dnnl_cpu_isa_avx512_core), "avx512_core"},
		{int(C.dnnl_cpu_isa_avx2_vnni), "avx2_vnni"},
		{int(C.dnnl_cpu_isa_avx2), "avx2"},
		{int(C.dnnl_cpu_isa_avx), "avx"},
		{int(C.dnnl_cpu_isa_sse41), "sse41"},
	} {
		if isa == n.isa {
			return n.name
		}
	}
	return fmt.Sprintf("isa %#x", isa)
}

func check(what string, st C.dnnl_status_t) error {
	if st == C.dnnl_success {
		return nil
	}
	s := fmt.Sprintf("status %d", int(st))
	switch st {
	case C.dnnl_out_of_memory:
		s = "out of memory"
	case C.dnnl_invalid_arguments:
		s = "invalid arguments"
	case C.dnnl_unimplemented:
		s = "no implementation on this CPU"
	case C.dnnl_runtime_error:
		s = "runtime error"
	}
	return fmt.Errorf("onednn %s: %s", what, s)
}

// Executor runs one model's trunk. It is safe for concurrent use; runs
// take turns on one OS thread, the OpenMP master whose thread count
// Options.Threads sets (OpenMP keeps that count per thread).
type Executor struct {
	spec    model.Spec
	prec    Precision
	threads int
	chain   *chain
	reqs    chan request
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the worker has freed everything
	kernels []Kernel      // of the first batch size built

	closeOnce sync.Once
	// Owned by the worker goroutine:
	eng     C.dnnl_engine_t
	stream  C.dnnl_stream_t
	weights [][]*convWeights // by layer, one per layout made; none for pools
	nets    map[int]*net
}

// convWeights are one convolution's weights in the layout a kernel
// reads, and its bias (f32), which every layout shares.
type convWeights struct {
	md   *mdesc
	mem  C.dnnl_memory_t
	bias C.dnnl_memory_t // nil without bias
}

type request struct {
	ctx   context.Context
	in    []float32
	batch int
	out   chan result
	// prof, when set, receives each step's time (a measure's request).
	prof *[]stepTime
}

// stepTime is how long one primitive of a run took, and its kernel.
type stepTime struct {
	Name, Impl string
	Took       time.Duration
}

type result struct {
	maps []float32
	err  error
}

// New builds the executor for spec's model from its ONNX file: the trunk
// from spec.Input to spec.Output must be a chain of Conv, Relu and
// MaxPool (ErrNotVGG says otherwise, naming the node), in NCHW. The
// primitives for a batch size are made on its first run; the weights are
// reordered into the kernels' layout once, here.
func New(spec model.Spec, opts *Options) (*Executor, error) {
	o, err := opts.norm()
	if err != nil {
		return nil, err
	}
	if err := load(); err != nil {
		return nil, err
	}
	m, err := onnx.ReadModel(spec.Path)
	if err != nil {
		return nil, err
	}
	c, err := parseChain(m, spec)
	if err != nil {
		return nil, err
	}
	switch {
	case c.quantized && o.Precision != INT8:
		return nil, fmt.Errorf("onednn: model %s is int8 (QuantizeLinear/DequantizeLinear nodes): it runs in int8, not %s", spec.Name, o.Precision)
	case !c.quantized && o.Precision == INT8:
		return nil, fmt.Errorf("onednn: model %s is float: int8 runs its int8 model, which holds the calibration (simsearch model quantize %s)", spec.Name, spec.Name)
	}
	x := &Executor{spec: spec, prec: o.Precision, threads: o.Threads, chain: c,
		reqs: make(chan request), closing: make(chan struct{}), done: make(chan struct{}), nets: map[int]*net{}}
	started := make(chan error, 1)
	go x.work(started)
	if err := <-started; err != nil {
		return nil, err
	}
	// Build batch 1 now: it reorders the weights, says what the kernels
	// are and fails here rather than at the first image.
	if _, err := x.Run(context.Background(), make([]float32, x.inLen()), 1); err != nil {
		x.Close()
		return nil, err
	}
	// The weights now live in oneDNN's memory, in the kernels' layout;
	// another batch size reorders from there. The Go copies, the parsed
	// model and the file's bytes (3× VGG16's 59 MB at the peak) go back
	// to the system now: `simsearch index` must stay under 400 MB.
	for i := range x.chain.layers {
		l := &x.chain.layers[i]
		l.weights, l.bias, l.wq = nil, nil, nil
	}
	debug.FreeOSMemory()
	return x, nil
}

func (x *Executor) inLen() int  { return x.chain.in[0] * x.chain.in[1] * x.chain.in[2] }
func (x *Executor) outLen() int { return x.spec.Channels * x.spec.GridH * x.spec.GridW }

// Precision is what the trunk computes in.
func (x *Executor) Precision() Precision { return x.prec }

// Threads is the OpenMP thread count of its runs.
func (x *Executor) Threads() int { return x.threads }

// Kernels lists, for batch 1, the implementation oneDNN picked for each
// primitive, reorders included.
func (x *Executor) Kernels() []Kernel { return x.kernels }

// work runs on one locked OS thread for the executor's life: OpenMP's
// thread count is a property of the calling thread, and its pool of
// worker threads belongs to the thread that starts parallel regions, so
// Go must not move the runs between threads.
func (x *Executor) work(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(x.done)
	if C.x_set_threads(C.int(x.threads)) == 0 && x.threads != runtime.NumCPU() {
		started <- errors.New("onednn: this libdnnl does not run on OpenMP: its thread count cannot be set")
		return
	}
	if err := check("engine", C.x_engine(&x.eng)); err != nil {
		started <- err
		return
	}
	defer C.x_engine_destroy(x.eng)
	if err := check("stream", C.x_stream(&x.stream, x.eng)); err != nil {
		started <- err
		return
	}
	defer C.x_stream_destroy(x.stream)
	x.weights = make([][]*convWeights, len(x.chain.layers))
	defer x.free()
	started <- nil
	for {
		select {
		case r := <-x.reqs:
			maps, err := x.run(r.ctx, r.in, r.batch, r.prof)
			r.out <- result{maps, err}
		case <-x.closing:
			return
		}
	}
}

// Run feeds batch preprocessed images (batch×3×Size×Size float32, NCHW)
// and returns the feature maps, batch×C×H×W float32. When ctx is done it
// returns ctx's error at once; the network stops at the next layer.
func (x *Executor) Run(ctx context.Context, input []float32, batch int) ([]float32, error) {
	return x.submit(ctx, input, batch, nil)
}

func (x *Executor) submit(ctx context.Context, input []float32, batch int, prof *[]stepTime) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if batch <= 0 || len(input) != batch*x.inLen() {
		return nil, fmt.Errorf("run model: input holds %d values, want %d×%d", len(input), batch, x.inLen())
	}
	r := request{ctx: ctx, in: input, batch: batch, out: make(chan result, 1), prof: prof}
	select {
	case x.reqs <- r:
	case <-x.closing:
		return nil, errors.New("onednn: executor closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-r.out:
		return res.maps, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close releases the primitives, weights and buffers.
func (x *Executor) Close() error {
	x.closeOnce.Do(func() { close(x.closing) })
	<-x.done
	return nil
}

func (x *Executor) free() {
	for _, n := range x.nets {
		n.free()
	}
	x.nets = nil
	for _, ws := range x.weights {
		for j, w := range ws {
			C.x_memory_destroy(w.mem)
			if j == 0 && w.bias != nil {
				C.x_memory_destroy(w.bias)
			}
		}
	}
	x.weights = nil
}

// run is one batch, on the worker thread.
func (x *Executor) run(ctx context.Context, input []float32, batch int, prof *[]stepTime) ([]float32, error) {
	n := x.nets[batch]
	if n == nil {
		var err error
		if n, err = x.build(batch); err != nil {
			return nil, fmt.Errorf("run model %s on onednn: %w", x.spec.Name, err)
		}
		x.nets[batch] = n
	}
	copy(unsafe.Slice((*float32)(n.in), len(input)), input)
	for _, s := range n.steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var t0 time.Time
		if prof != nil {
			t0 = time.Now()
		}
		if err := check("execute "+s.name, C.x_execute(s.prim, x.stream, C.int(len(s.args)), &s.args[0])); err != nil {
			return nil, err
		}
		if prof != nil {
			// CPU primitives run synchronously: execute returns when done.
			*prof = append(*prof, stepTime{Name: s.name, Impl: s.impl, Took: time.Since(t0)})
		}
	}
	if err := check("wait", C.x_stream_wait(x.stream)); err != nil {
		return nil, err
	}
	out := make([]float32, batch*x.outLen())
	copy(out, unsafe.Slice((*float32)(n.out), len(out)))
	return out, nil
}

// net is the trunk's primitives for one batch size. Activations live in
// two buffers that the layers take turns to read and write.
type net struct {
	in, out unsafe.Pointer // the f32 NCHW input and output (C memory)
	bufs    [2]unsafe.Pointer
	steps   []step
	mems    []C.dnnl_memory_t
}

type step struct {
	name string
	impl string
	prim C.dnnl_primitive_t
	args []C.dnnl_exec_arg_t
}

func (n *net) free() {
	for _, s := range n.steps {
		C.x_primitive_destroy(s.prim)
	}
	for _, m := range n.mems {
		C.x_memory_destroy(m)
	}
	for _, p := range []unsafe.Pointer{n.in, n.out, n.bufs[0], n.bufs[1]} {
		C.free(p)
	}
}

// planned is a step before its buffers exist: src and dst say which
// tensor it reads and writes (-1 the input, -2 the output, else a buffer).
type planned struct {
	name     string
	pd       C.dnnl_primitive_desc_t
	src, dst int
	srcMD    *mdesc
	dstMD    *mdesc
	w        *convWeights
	scale    float32 // a reorder's factor
}

// build makes the primitives for batch: a reorder of the input into the
// first convolution's layout, each layer with format_tag any (oneDNN
// picks the layout its fastest kernel wants, and a reorder is added
// where the next layer wants another), and a reorder to f32 NCHW at the
// end. In int8, a reorder also quantizes (f32 to u8), requantizes (u8 to
// u8 of another scale) or dequantizes (u8 to f32) where the layers on
// either side keep the activation in different forms.
func (x *Executor) build(batch int) (n *net, err error) {
	dt := f32
	if x.prec == BF16 {
		dt = bf16
	}
	var plan []planned
	defer func() {
		for _, p := range plan {
			C.x_pd_destroy(p.pd)
		}
		if err != nil && n != nil {
			n.free()
		}
	}()
	in := x.chain.in
	cur, err := newMD([]int{batch, in[0], in[1], in[2]}, f32, tagNCHW)
	if err != nil {
		return nil, err
	}
	// The current tensor's type, and for u8 its scale (real = scale·q);
	// floats have scale 1.
	curDT, curScale := f32, float32(1)
	at := -1
	next := func() int { return (at + 1) % 2 } // -1 → 0, 0 → 1, 1 → 0
	reorder := func(name string, to *mdesc, dst int, scale float32) error {
		pd, err := reorderPD(x.eng, cur, to, scale)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		plan = append(plan, planned{name: name, pd: pd, src: at, dst: dst, srcMD: cur, dstMD: to, scale: scale})
		cur, at = to, dst
		return nil
	}
	for i := range x.chain.layers {
		l := &x.chain.layers[i]
		if l.pool {
			if l.inScale != 0 && (curDT != u8 || curScale != l.inScale) {
				// It pools the quantized values (a float convolution's
				// output, when the pool follows the first layer):
				// quantize to channels-last u8, int8's layout.
				to, err := newMD([]int{batch, l.in[0], l.in[1], l.in[2]}, u8, tagNHWC)
				if err != nil {
					return nil, err
				}
				if err := reorder("quantize for "+l.name, to, next(), curScale/l.inScale); err != nil {
					return nil, err
				}
				curDT, curScale = u8, l.inScale
			}
			dst, err := newMD([]int{batch, l.out[0], l.out[1], l.out[2]}, curDT, tagAny)
			if err != nil {
				return nil, err
			}
			pd, err := poolPD(x.eng, l, cur, dst)
			if err != nil {
				return nil, err
			}
			p := planned{name: l.name, pd: pd, src: at, dst: next(), srcMD: cur}
			plan = append(plan, p)
			if plan[len(plan)-1].dstMD, err = queryMD(pd, queryDst); err != nil {
				return nil, err
			}
			cur, at = plan[len(plan)-1].dstMD, p.dst
			continue
		}
		// Types: src, weights, dst; and for int8 the output scales and
		// the scale of the u8 tensor the convolution reads and writes.
		sdt, wdt, ddt := dt, dt, dt
		var scales []float32
		inS, outS := float32(1), float32(1)
		if x.prec == INT8 {
			sdt, wdt, ddt = f32, f32, f32
			if l.inScale != 0 {
				sdt, wdt, inS = u8, s8, l.inScale
				if l.outScale != 0 {
					ddt, outS = u8, l.outScale
				}
				scales = make([]float32, l.out[0])
				for c := range scales {
					scales[c] = float32(float64(inS) * float64(l.wScales[c]) / float64(outS))
				}
			}
		}
		dst, err := newMD([]int{batch, l.out[0], l.out[1], l.out[2]}, ddt, tagAny)
		if err != nil {
			return nil, err
		}
		src, err := newMD([]int{batch, l.in[0], l.in[1], l.in[2]}, sdt, tagAny)
		if err != nil {
			return nil, err
		}
		w, err := newMD([]int{l.out[0], l.in[0], l.kernel[0], l.kernel[1]}, wdt, tagAny)
		if err != nil {
			return nil, err
		}
		var b *mdesc
		if l.hasBias {
			if b, err = newMD([]int{l.out[0]}, f32, tagX); err != nil {
				return nil, err
			}
		}
		pd, err := convPD(x.eng, l, src, w, b, dst, scales)
		if err != nil {
			return nil, err
		}
		plan = append(plan, planned{name: l.name, pd: pd})
		p := &plan[len(plan)-1]
		want, err := queryMD(pd, querySrc)
		if err != nil {
			return nil, err
		}
		if rs := curScale / inS; !want.equal(cur) || rs != 1 {
			if err := reorder("reorder to "+l.name, want, next(), rs); err != nil {
				return nil, err
			}
			// The reorder went in after the convolution: swap them.
			k := len(plan) - 1
			plan[k-1], plan[k] = plan[k], plan[k-1]
			p = &plan[k]
		}
		p.src, p.srcMD, p.dst = at, cur, next()
		if p.dstMD, err = queryMD(pd, queryDst); err != nil {
			return nil, err
		}
		wmd, err := queryMD(pd, queryWeights)
		if err != nil {
			return nil, err
		}
		if p.w, err = x.layerWeights(i, wmd, b); err != nil {
			return nil, err
		}
		cur, at = p.dstMD, p.dst
		curDT, curScale = ddt, outS
	}
	outMD, err := newMD([]int{batch, x.spec.Channels, x.spec.GridH, x.spec.GridW}, f32, tagNCHW)
	if err != nil {
		return nil, err
	}
	if err := reorder("reorder to output", outMD, -2, curScale); err != nil {
		return nil, err
	}

	// Buffers: the largest activation, twice.
	n = &net{}
	size := 0
	for _, p := range plan {
		if p.dst >= 0 {
			size = max(size, p.dstMD.size())
		}
	}
	n.in = C.malloc(C.size_t(batch * x.inLen() * 4))
	n.out = C.malloc(C.size_t(batch * x.outLen() * 4))
	n.bufs[0], n.bufs[1] = C.malloc(C.size_t(size)), C.malloc(C.size_t(size))
	if n.in == nil || n.out == nil || n.bufs[0] == nil || n.bufs[1] == nil {
		return n, errors.New("onednn: out of memory for activations")
	}
	buf := func(i int) unsafe.Pointer {
		switch i {
		case -1:
			return n.in
		case -2:
			return n.out
		}
		return n.bufs[i]
	}
	mem := func(md *mdesc, at int) (C.dnnl_memory_t, error) {
		m, err := newMemory(x.eng, md, buf(at))
		if err == nil {
			n.mems = append(n.mems, m)
		}
		return m, err
	}
	for _, p := range plan {
		src, err := mem(p.srcMD, p.src)
		if err != nil {
			return n, err
		}
		dst, err := mem(p.dstMD, p.dst)
		if err != nil {
			return n, err
		}
		s := step{name: p.name, impl: C.GoString(C.x_impl(p.pd))}
		if p.w != nil {
			s.args = append(s.args, arg(C.DNNL_ARG_SRC, src), arg(C.DNNL_ARG_WEIGHTS, p.w.mem))
			if p.w.bias != nil {
				s.args = append(s.args, arg(C.DNNL_ARG_BIAS, p.w.bias))
			}
			s.args = append(s.args, arg(C.DNNL_ARG_DST, dst))
		} else {
			s.args = []C.dnnl_exec_arg_t{arg(C.DNNL_ARG_FROM, src), arg(C.DNNL_ARG_TO, dst)}
		}
		if err := check("primitive "+p.name, C.x_primitive(&s.prim, p.pd)); err != nil {
			return n, err
		}
		n.steps = append(n.steps, s)
		if batch == 1 {
			x.kernels = append(x.kernels, Kernel{Layer: p.name, Impl: s.impl})
		}
	}
	return n, nil
}

func arg(a C.int, m C.dnnl_memory_t) C.dnnl_exec_arg_t {
	return C.dnnl_exec_arg_t{arg: a, memory: m}
}

// layerWeights returns convolution i's weights in layout md, reordering
// them from the ONNX file's OIHW f32 the first time and again only if a
// batch size's kernel wants another layout (from the first copy, which
// holds the same values). Every layout made stays until Close: the
// primitives of other batch sizes read it.
func (x *Executor) layerWeights(i int, md, bmd *mdesc) (*convWeights, error) {
	var first *convWeights
	for _, cw := range x.weights[i] {
		if cw.md.equal(md) {
			return cw, nil
		}
		if first == nil {
			first = cw
		}
	}
	l := &x.chain.layers[i]
	var from C.dnnl_memory_t
	var fromMD *mdesc
	if first != nil {
		from, fromMD = first.mem, first.md
	} else {
		dt := f32
		if l.wq != nil {
			dt = s8
		}
		var err error
		if fromMD, err = newMD([]int{l.out[0], l.in[0], l.kernel[0], l.kernel[1]}, dt, tagOIHW); err != nil {
			return nil, err
		}
		if from, err = newMemory(x.eng, fromMD, nil); err != nil {
			return nil, err
		}
		defer C.x_memory_destroy(from)
		if l.wq != nil {
			copy(unsafe.Slice((*int8)(C.x_memory_data(from)), len(l.wq)), l.wq)
		} else {
			copy(unsafe.Slice((*float32)(C.x_memory_data(from)), len(l.weights)), l.weights)
		}
	}
	to, err := newMemory(x.eng, md, nil)
	if err != nil {
		return nil, err
	}
	if err := x.reorderNow(fromMD, from, md, to); err != nil {
		C.x_memory_destroy(to)
		return nil, fmt.Errorf("weights of %s: %w", l.name, err)
	}
	nw := &convWeights{md: md, mem: to}
	switch {
	case first != nil:
		nw.bias = first.bias
	case l.hasBias:
		if nw.bias, err = newMemory(x.eng, bmd, nil); err != nil {
			C.x_memory_destroy(to)
			return nil, err
		}
		b := unsafe.Slice((*float32)(C.x_memory_data(nw.bias)), len(l.bias))
		copy(b, l.bias)
		if l.wq != nil {
			// An int8 convolution adds its bias to the integer
			// accumulator, before the output scales: the bias in units
			// of inScale·wScales[c], as the quantizer's int32 holds it.
			for c := range b {
				b[c] = float32(float64(l.bias[c]) / (float64(l.inScale) * float64(l.wScales[c])))
			}
		}
	}
	x.weights[i] = append(x.weights[i], nw)
	return nw, nil
}

// reorderNow copies from into to, converting layout and type, and waits.
func (x *Executor) reorderNow(fromMD *mdesc, from C.dnnl_memory_t, toMD *mdesc, to C.dnnl_memory_t) error {
	pd, err := reorderPD(x.eng, fromMD, toMD, 1)
	if err != nil {
		return err
	}
	defer C.x_pd_destroy(pd)
	var p C.dnnl_primitive_t
	if err := check("reorder", C.x_primitive(&p, pd)); err != nil {
		return err
	}
	defer C.x_primitive_destroy(p)
	args := []C.dnnl_exec_arg_t{arg(C.DNNL_ARG_FROM, from), arg(C.DNNL_ARG_TO, to)}
	if err := check("reorder", C.x_execute(p, x.stream, 2, &args[0])); err != nil {
		return err
	}
	return check("wait", C.x_stream_wait(x.stream))
}

//go:build cgo && !nodnnl

package onednn

// What is specific to oneDNN 2.x: memory descriptors are structs passed
// by value (3.x makes them opaque handles), convolutions and pools are
// made from operation descriptors (3.x creates their primitive
// descriptors directly), post-ops take a scale (3.x drops it) and int8
// sets output scales on the attribute (3.x sets scales per argument:
// src, weights and dst separately, with dst's inverted). Porting to 3.x means rewriting this file only.

/*
#include <dlfcn.h>
#include "shim.h"

static struct {
	dnnl_status_t (*memory_desc_init_by_tag)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t, dnnl_format_tag_t);
	size_t (*memory_desc_get_size)(const dnnl_memory_desc_t *);
	int (*memory_desc_equal)(const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
	dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
	dnnl_status_t (*dilated_convolution_forward_desc_init)(dnnl_convolution_desc_t *, dnnl_prop_kind_t, dnnl_alg_kind_t,
		const dnnl_memory_desc_t *, const dnnl_memory_desc_t *, const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
		const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t);
	dnnl_status_t (*pooling_v2_forward_desc_init)(dnnl_pooling_v2_desc_t *, dnnl_prop_kind_t, dnnl_alg_kind_t,
		const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
		const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t);
	dnnl_status_t (*primitive_desc_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t, dnnl_engine_t, const_dnnl_primitive_desc_t);
	const dnnl_memory_desc_t *(*primitive_desc_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
	dnnl_status_t (*reorder_primitive_desc_create)(dnnl_primitive_desc_t *, const dnnl_memory_desc_t *, dnnl_engine_t, const dnnl_memory_desc_t *, dnnl_engine_t, const_dnnl_primitive_attr_t);
	dnnl_status_t (*primitive_attr_create)(dnnl_primitive_attr_t *);
	dnnl_status_t (*primitive_attr_destroy)(dnnl_primitive_attr_t);
	dnnl_status_t (*primitive_attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
	dnnl_status_t (*post_ops_create)(dnnl_post_ops_t *);
	dnnl_status_t (*post_ops_destroy)(dnnl_post_ops_t);
	dnnl_status_t (*post_ops_append_eltwise)(dnnl_post_ops_t, float, dnnl_alg_kind_t, float, float);
	dnnl_status_t (*primitive_attr_set_output_scales)(dnnl_primitive_attr_t, dnnl_dim_t, int, const float *);
} o2;

// onednn2_load resolves the 2.x functions in h; it returns the first
// missing name, or NULL.
static const char *onednn2_load(void *h) {
#define SYM(f) if (!(*(void **)&o2.f = dlsym(h, "dnnl_" #f))) return "dnnl_" #f;
	SYM(memory_desc_init_by_tag)
	SYM(memory_desc_get_size)
	SYM(memory_desc_equal)
	SYM(memory_create)
	SYM(dilated_convolution_forward_desc_init)
	SYM(pooling_v2_forward_desc_init)
	SYM(primitive_desc_create)
	SYM(primitive_desc_query_md)
	SYM(reorder_primitive_desc_create)
	SYM(primitive_attr_create)
	SYM(primitive_attr_destroy)
	SYM(primitive_attr_set_post_ops)
	SYM(post_ops_create)
	SYM(post_ops_destroy)
	SYM(post_ops_append_eltwise)
	SYM(primitive_attr_set_output_scales)
#undef SYM
	return NULL;
}

static dnnl_status_t md_by_tag(dnnl_memory_desc_t *md, int nd, const dnnl_dim_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
	dnnl_dims_t d = {0};
	for (int i = 0; i < nd; i++) d[i] = dims[i];
	return o2.memory_desc_init_by_tag(md, nd, d, dt, tag);
}

static size_t md_size(const dnnl_memory_desc_t *md) { return o2.memory_desc_get_size(md); }
static int md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) { return o2.memory_desc_equal(a, b); }

static dnnl_status_t md_query(const_dnnl_primitive_desc_t pd, dnnl_query_t what, dnnl_memory_desc_t *out) {
	const dnnl_memory_desc_t *q = o2.primitive_desc_query_md(pd, what, 0);
	if (!q) return dnnl_invalid_arguments;
	*out = *q;
	return dnnl_success;
}

// memory_new makes a memory object on buf, or on memory the library
// allocates when buf is NULL.
static dnnl_status_t memory_new(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t eng, void *buf) {
	return o2.memory_create(m, md, eng, buf ? buf : DNNL_MEMORY_ALLOCATE);
}

static void dims2(dnnl_dims_t out, const dnnl_dim_t *in) { out[0] = in[0]; out[1] = in[1]; }

// conv_pd describes a forward-inference convolution, with a ReLU post-op
// when relu is set; bias may be NULL. dil counts the gaps (0 = dense).
// With nscales > 0 (int8) the accumulator, bias added, is multiplied by
// scales: one per output channel (mask 1<<1, dimension 1 of dst), or one
// for all (mask 0), before the ReLU and the conversion to dst's type.
static dnnl_status_t conv_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng,
		const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *dst,
		const dnnl_dim_t *strides, const dnnl_dim_t *dil, const dnnl_dim_t *pl, const dnnl_dim_t *pr, int relu,
		int nscales, const float *scales) {
	dnnl_convolution_desc_t cd;
	dnnl_dims_t s, d, l, r;
	dims2(s, strides); dims2(d, dil); dims2(l, pl); dims2(r, pr);
	dnnl_status_t st = o2.dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, src, w, b, dst, s, d, l, r);
	if (st != dnnl_success) return st;
	dnnl_primitive_attr_t attr = NULL;
	if (relu || nscales > 0) {
		if ((st = o2.primitive_attr_create(&attr)) != dnnl_success) return st;
	}
	if (nscales > 0 && (st = o2.primitive_attr_set_output_scales(attr, nscales, nscales > 1 ? 1 << 1 : 0, scales)) != dnnl_success) {
		o2.primitive_attr_destroy(attr);
		return st;
	}
	if (relu) {
		dnnl_post_ops_t po;
		if ((st = o2.post_ops_create(&po)) != dnnl_success) { o2.primitive_attr_destroy(attr); return st; }
		st = o2.post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
		if (st == dnnl_success) st = o2.primitive_attr_set_post_ops(attr, po);
		o2.post_ops_destroy(po);
		if (st != dnnl_success) { o2.primitive_attr_destroy(attr); return st; }
	}
	st = o2.primitive_desc_create(pd, &cd, attr, eng, NULL);
	if (attr) o2.primitive_attr_destroy(attr);
	return st;
}

// pool_pd describes a forward-inference max-pool.
static dnnl_status_t pool_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng,
		const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
		const dnnl_dim_t *strides, const dnnl_dim_t *kernel, const dnnl_dim_t *dil, const dnnl_dim_t *pl, const dnnl_dim_t *pr) {
	dnnl_pooling_v2_desc_t d;
	dnnl_dims_t s, k, dl, l, r;
	dims2(s, strides); dims2(k, kernel); dims2(dl, dil); dims2(l, pl); dims2(r, pr);
	dnnl_status_t st = o2.pooling_v2_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, src, dst, s, k, dl, l, r);
	if (st != dnnl_success) return st;
	return o2.primitive_desc_create(pd, &d, NULL, eng, NULL);
}

// reorder_pd describes a copy from src's layout and type to dst's that
// multiplies by scale on the way (rounding and saturating to an integer
// dst): quantizing, dequantizing or requantizing an activation.
static dnnl_status_t reorder_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst, float scale) {
	dnnl_primitive_attr_t attr = NULL;
	dnnl_status_t st;
	if (scale != 1.0f) {
		if ((st = o2.primitive_attr_create(&attr)) != dnnl_success) return st;
		if ((st = o2.primitive_attr_set_output_scales(attr, 1, 0, &scale)) != dnnl_success) { o2.primitive_attr_destroy(attr); return st; }
	}
	st = o2.reorder_primitive_desc_create(pd, src, eng, dst, eng, attr);
	if (attr) o2.primitive_attr_destroy(attr);
	return st;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// load2 resolves the 2.x functions in the opened library h.
func load2(h unsafe.Pointer) error {
	if missing := C.onednn2_load(h); missing != nil {
		return errors.New("no " + C.GoString(missing) + " (not oneDNN 2.x)")
	}
	return nil
}

// dataType is a tensor's element type.
type dataType C.dnnl_data_type_t

const (
	f32  = dataType(C.dnnl_f32)
	bf16 = dataType(C.dnnl_bf16)
	u8   = dataType(C.dnnl_u8)
	s8   = dataType(C.dnnl_s8)
)

// formatTag is a memory layout: a plain one or any (the primitive picks).
type formatTag C.dnnl_format_tag_t

const (
	tagAny  = formatTag(C.dnnl_format_tag_any)
	tagNCHW = formatTag(C.dnnl_nchw)
	tagNHWC = formatTag(C.dnnl_nhwc)
	tagOIHW = formatTag(C.dnnl_oihw)
	tagX    = formatTag(C.dnnl_x)
)

// mdesc is a memory descriptor: dims, element type and layout.
type mdesc struct{ d C.dnnl_memory_desc_t }

func newMD(dims []int, dt dataType, tag formatTag) (*mdesc, error) {
	var d [C.DNNL_MAX_NDIMS]C.dnnl_dim_t
	for i, v := range dims {
		d[i] = C.dnnl_dim_t(v)
	}
	m := &mdesc{}
	if err := check("memory descriptor", C.md_by_tag(&m.d, C.int(len(dims)), &d[0], C.dnnl_data_type_t(dt), C.dnnl_format_tag_t(tag))); err != nil {
		return nil, err
	}
	return m, nil
}

// size is the bytes a tensor of this descriptor takes, padding included.
func (m *mdesc) size() int { return int(C.md_size(&m.d)) }

func (m *mdesc) equal(o *mdesc) bool { return C.md_equal(&m.d, &o.d) != 0 }

// The memory descriptors of a primitive descriptor's arguments.
const (
	querySrc     = C.dnnl_query_src_md
	queryWeights = C.dnnl_query_weights_md
	queryDst     = C.dnnl_query_dst_md
)

func queryMD(pd C.dnnl_primitive_desc_t, what C.dnnl_query_t) (*mdesc, error) {
	m := &mdesc{}
	if err := check("query memory descriptor", C.md_query(C.const_dnnl_primitive_desc_t(pd), what, &m.d)); err != nil {
		return nil, err
	}
	return m, nil
}

// newMemory makes a memory object of md on buf (not Go memory), or on
// memory the library allocates when buf is nil.
func newMemory(eng C.dnnl_engine_t, md *mdesc, buf unsafe.Pointer) (C.dnnl_memory_t, error) {
	var m C.dnnl_memory_t
	if err := check("memory", C.memory_new(&m, &md.d, eng, buf)); err != nil {
		return nil, err
	}
	return m, nil
}

// dims2 is a pair as oneDNN takes it.
func dims2(a, b int) [2]C.dnnl_dim_t { return [2]C.dnnl_dim_t{C.dnnl_dim_t(a), C.dnnl_dim_t(b)} }

// convPD describes l's convolution from src to dst (bias may be nil);
// scales, when there are any, are its int8 output scales, one per output
// channel.
func convPD(eng C.dnnl_engine_t, l *layer, src, w, b, dst *mdesc, scales []float32) (C.dnnl_primitive_desc_t, error) {
	var pd C.dnnl_primitive_desc_t
	var bp *C.dnnl_memory_desc_t
	if b != nil {
		bp = &b.d
	}
	s := dims2(l.strides[0], l.strides[1])
	d := dims2(l.dilations[0]-1, l.dilations[1]-1)
	pl, pr := dims2(l.pads[0], l.pads[1]), dims2(l.pads[2], l.pads[3])
	relu := C.int(0)
	if l.relu {
		relu = 1
	}
	var sp *C.float
	if len(scales) > 0 {
		sp = (*C.float)(unsafe.Pointer(&scales[0]))
	}
	err := check("convolution "+l.name, C.conv_pd(&pd, eng, &src.d, &w.d, bp, &dst.d, &s[0], &d[0], &pl[0], &pr[0], relu, C.int(len(scales)), sp))
	return pd, err
}

// poolPD describes l's max-pool from src to dst.
func poolPD(eng C.dnnl_engine_t, l *layer, src, dst *mdesc) (C.dnnl_primitive_desc_t, error) {
	var pd C.dnnl_primitive_desc_t
	s, k := dims2(l.strides[0], l.strides[1]), dims2(l.kernel[0], l.kernel[1])
	d := dims2(l.dilations[0]-1, l.dilations[1]-1)
	pl, pr := dims2(l.pads[0], l.pads[1]), dims2(l.pads[2], l.pads[3])
	err := check("max-pool "+l.name, C.pool_pd(&pd, eng, &src.d, &dst.d, &s[0], &k[0], &d[0], &pl[0], &pr[0]))
	return pd, err
}

// reorderPD describes the copy of a tensor from src's layout and type to
// dst's, multiplied by scale.
func reorderPD(eng C.dnnl_engine_t, src, dst *mdesc, scale float32) (C.dnnl_primitive_desc_t, error) {
	var pd C.dnnl_primitive_desc_t
	err := check("reorder", C.reorder_pd(&pd, eng, &src.d, &dst.d, C.float(scale)))
	return pd, err
}

// The oneDNN functions that keep their form from 2.x to 3.x, resolved
// at run time with dlsym (onednn_cgo.go); those that changed are in
// dnnl2_cgo.go. The header gives the types only: nothing links libdnnl.
#include <stddef.h>
#include <oneapi/dnnl/dnnl.h>

typedef struct {
	dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
	dnnl_status_t (*engine_destroy)(dnnl_engine_t);
	dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
	dnnl_status_t (*stream_destroy)(dnnl_stream_t);
	dnnl_status_t (*stream_wait)(dnnl_stream_t);
	dnnl_status_t (*memory_destroy)(dnnl_memory_t);
	dnnl_status_t (*memory_get_data_handle)(const_dnnl_memory_t, void **);
	dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
	dnnl_status_t (*primitive_destroy)(dnnl_primitive_t);
	dnnl_status_t (*primitive_execute)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
	dnnl_status_t (*primitive_desc_destroy)(dnnl_primitive_desc_t);
	dnnl_status_t (*primitive_desc_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
	const dnnl_version_t *(*version)(void);
	dnnl_cpu_isa_t (*get_effective_cpu_isa)(void);
	// NULL when the library does not run on OpenMP.
	void (*omp_set_num_threads)(int);
} onednn_api;

extern onednn_api onednn;

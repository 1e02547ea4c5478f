package onednn

import (
	"fmt"
	"runtime"
	"strings"
)

// LibraryEnv names the environment variable that, when set, is the path
// dlopen loads instead of LibraryName (read once, at the first load): a
// library elsewhere, or one that is not there to see the fallback to
// ONNX Runtime.
const LibraryEnv = "SIMSEARCH_ONEDNN_LIB"

// Precision is the number format the trunk computes in. Input and output
// stay float32 in every precision.
type Precision string

// The precisions an Executor runs.
const (
	// FP32 computes in float32, like ONNX Runtime: the same features to
	// about 1e-5.
	FP32 Precision = "fp32"
	// BF16 keeps weights and activations in bfloat16 between layers
	// (accumulating in float32): the AMX-BF16 and AVX512-BF16 kernels.
	BF16 Precision = "bf16"
	// INT8 runs an int8 model, the QDQ graph internal/quantize writes,
	// with its own calibration: uint8 activations times int8 weights
	// (the AMX-INT8 and AVX512-VNNI kernels), each convolution's output
	// requantized to uint8 with per-channel scales, max-pools on the
	// integers. A convolution the graph keeps float (the first, which
	// reads the image) runs in fp32.
	INT8 Precision = "int8"
)

// ParsePrecision checks a precision's name.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(strings.ToLower(s)); p {
	case FP32, BF16, INT8:
		return p, nil
	}
	return "", fmt.Errorf("onednn: precision %q: want fp32, bf16 or int8", s)
}

// Options configure New. The zero value means all cores, fp32.
type Options struct {
	// Threads is the OpenMP thread count of the executor's runs; 0 means
	// one per core.
	Threads int
	// Precision is FP32 when empty.
	Precision Precision
}

func (o *Options) norm() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Threads <= 0 {
		c.Threads = runtime.NumCPU()
	}
	if c.Precision == "" {
		c.Precision = FP32
	}
	if _, err := ParsePrecision(string(c.Precision)); err != nil {
		return c, err
	}
	return c, nil
}

// Kernel is the implementation oneDNN chose for one primitive of the
// trunk: Layer is the ONNX node (or "reorder" steps between layouts),
// Impl oneDNN's name for the kernel, e.g. "brg:avx512_core_amx_bf16".
type Kernel struct {
	Layer string
	Impl  string
}

// Summary counts kernels by implementation, in order of first use:
// "brg:avx512_core_amx_bf16 ×12, jit:avx512_core ×5".
func Summary(ks []Kernel) string {
	var order []string
	n := map[string]int{}
	for _, k := range ks {
		if n[k.Impl] == 0 {
			order = append(order, k.Impl)
		}
		n[k.Impl]++
	}
	parts := make([]string, len(order))
	for i, impl := range order {
		parts[i] = fmt.Sprintf("%s ×%d", impl, n[impl])
	}
	return strings.Join(parts, ", ")
}

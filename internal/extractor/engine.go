package extractor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/simsearch/simsearch/internal/onednn"
	"github.com/simsearch/simsearch/model"
)

// Engine names what runs the network's trunk.
type Engine string

// The engines. The zero value of Options.Engine is EngineORT.
const (
	// EngineAuto takes oneDNN where libdnnl loads, the model is a
	// VGG-shaped trunk without a classifier and the CPU has the
	// instructions of its precision: int8 (an int8 model) on AMX-INT8 or
	// VNNI, bf16 (a float model) on AMX-BF16 or AVX512-BF16; ONNX Runtime
	// otherwise.
	EngineAuto Engine = "auto"
	// EngineORT is ONNX Runtime, which runs every model.
	EngineORT Engine = "ort"
	// EngineOneDNN is oneDNN (internal/onednn): VGG-shaped trunks only.
	EngineOneDNN Engine = "onednn"
)

// Precision is the number format the trunk computes in.
type Precision string

// The precisions. An int8 model (model.Spec.IsInt8: its graph is
// quantized, by simsearch or its authors, whatever its name) runs in int8, on ONNX Runtime or oneDNN; a float model in
// fp32 on ONNX Runtime, and in fp32 or bf16 on oneDNN.
const (
	PrecisionAuto Precision = "auto"
	PrecisionFP32 Precision = "fp32"
	PrecisionBF16 Precision = "bf16"
	PrecisionInt8 Precision = "int8"
)

// ParseEngine checks an engine's name; "" is EngineAuto.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(strings.ToLower(s)); e {
	case "":
		return EngineAuto, nil
	case EngineAuto, EngineORT, EngineOneDNN:
		return e, nil
	}
	return "", fmt.Errorf("engine %q: want auto, ort or onednn", s)
}

// ParsePrecision checks a precision's name; "" is PrecisionAuto.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(strings.ToLower(s)); p {
	case "":
		return PrecisionAuto, nil
	case PrecisionAuto, PrecisionFP32, PrecisionBF16, PrecisionInt8:
		return p, nil
	}
	return "", fmt.Errorf("precision %q: want auto, fp32, bf16 or int8", s)
}

// EngineInfo says what runs an Extractor's trunk.
type EngineInfo struct {
	Engine    Engine    // EngineORT or EngineOneDNN
	Precision Precision // fp32, bf16 or int8
	// Kernels are oneDNN's kernels by count, e.g.
	// "brg:avx512_core_amx_bf16 ×12, ..."; "" on ONNX Runtime.
	Kernels string
	// Note says why EngineAuto did not take oneDNN; "" when it did or
	// when the engine was named.
	Note string
}

// String is "onednn bf16" or "onnxruntime fp32".
func (i EngineInfo) String() string {
	name := "onnxruntime"
	if i.Engine == EngineOneDNN {
		name = "onednn"
	}
	return name + " " + string(i.Precision)
}

// bf16Flags are the /proc/cpuinfo flags of the instructions that make
// oneDNN's bf16 kernels fast, best first. Measured here (issue 16, 2
// threads): bf16 on AMX runs VGG16's trunk at 74 images/s, 7× ONNX
// Runtime's fp32; oneDNN in fp32 runs it at ONNX Runtime's speed, so
// without these oneDNN gains nothing.
var bf16Flags = []string{"amx_bf16", "avx512_bf16"}

// BF16Features returns the bf16 instructions that the CPU described by
// cpuinfo (the text of /proc/cpuinfo) offers, in the order of bf16Flags.
func BF16Features(cpuinfo string) []string {
	_, flags := readCPUInfo(strings.NewReader(cpuinfo))
	var out []string
	for _, f := range bf16Flags {
		if slices.Contains(flags, f) {
			out = append(out, f)
		}
	}
	return out
}

// CPUBF16Features returns BF16Features of this machine; none where
// /proc/cpuinfo cannot be read.
func CPUBF16Features() []string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	return BF16Features(string(b))
}

// OneDNN says whether the oneDNN engine can run here: its library
// version and instruction set, or why not.
func OneDNN() (version, isa string, err error) {
	if ok, why := onednn.Available(); !ok {
		return "", "", errors.New(why)
	}
	return onednn.Version(), onednn.ISA(), nil
}

// ChooseEngine resolves engine and precision for spec on a CPU with the
// bf16 instructions bf16 (see BF16Features) and the int8 ones int8 (see
// Int8Features), without loading the model. A
// named engine or precision that cannot run spec is an error; under
// EngineAuto what oneDNN cannot run goes to ONNX Runtime, and Note says
// why in one line. It loads libdnnl to see that it loads.
//
// An int8 model runs in int8: on oneDNN where the CPU has AMX-INT8 or
// VNNI (its AMX kernels ran the trunk 2–6× as fast as ONNX Runtime's
// int8, which uses VNNI but not AMX, in the runs of 2026-12-01 on this
// shared 2-core host), else on ONNX Runtime. A float model runs in bf16 on
// oneDNN where the CPU has AMX-BF16 or AVX512-BF16, else in fp32 on ONNX
// Runtime.
func ChooseEngine(spec model.Spec, eng Engine, prec Precision, bf16, int8 []string) (EngineInfo, error) {
	if eng == "" {
		eng = EngineORT
	}
	if prec == "" {
		prec = PrecisionAuto
	}
	ort := EngineInfo{Engine: EngineORT, Precision: PrecisionFP32}
	int8Model := spec.IsInt8() // by its graph, whatever its name
	if int8Model {
		ort.Precision = PrecisionInt8
	}
	switch {
	case prec == PrecisionInt8 && !int8Model:
		return EngineInfo{}, fmt.Errorf("model %s is fp32: int8 runs its int8 model, which holds the calibration (simsearch model quantize %s)", spec.Name, spec.Name)
	case int8Model && prec != PrecisionAuto && prec != PrecisionInt8:
		return EngineInfo{}, fmt.Errorf("model %s is int8: its precision is int8", spec.Name)
	}
	if eng == EngineORT {
		if prec == PrecisionBF16 {
			return EngineInfo{}, errors.New("precision bf16 runs on oneDNN: use engine onednn or auto")
		}
		return ort, nil
	}
	why := ""
	want := prec
	switch {
	case spec.Logits != "":
		why = fmt.Sprintf("model %s has a classifier output, which runs on ONNX Runtime with the features", spec.Name)
	case spec.Pre.Layout != "" && spec.Pre.Layout != model.NCHW:
		why = fmt.Sprintf("model %s takes %s input; oneDNN runs NCHW trunks", spec.Name, spec.Pre.Layout)
	case int8Model:
		want = PrecisionInt8
		if len(int8) == 0 {
			why = "this CPU has no AMX-INT8 or AVX512-VNNI, which oneDNN's int8 needs"
		}
	case eng == EngineAuto && prec == PrecisionFP32:
		// oneDNN's fp32 runs at ONNX Runtime's speed: nothing to gain.
		return ort, nil
	case prec == PrecisionAuto && len(bf16) == 0:
		if eng == EngineAuto {
			return withNote(ort, "this CPU has no AMX-BF16 or AVX512-BF16, so oneDNN would be no faster"), nil
		}
		want = PrecisionFP32
	case prec == PrecisionAuto:
		want = PrecisionBF16
	}
	if why == "" {
		if ok, reason := onednn.Available(); !ok {
			why = reason
		}
	}
	if why != "" {
		if eng == EngineOneDNN {
			return EngineInfo{}, fmt.Errorf("engine onednn: %s", why)
		}
		if prec == PrecisionBF16 {
			return EngineInfo{}, fmt.Errorf("precision bf16: %s", why)
		}
		return withNote(ort, why), nil
	}
	return EngineInfo{Engine: EngineOneDNN, Precision: want}, nil
}

func withNote(i EngineInfo, why string) EngineInfo {
	i.Note = "onednn: " + why + "; running on ONNX Runtime, " + string(i.Precision)
	return i
}

// features runs the trunk on batches: the ONNX Runtime Session, or the
// oneDNN executor (which has no classifier scores).
type features interface {
	RunScores(ctx context.Context, input []float32, batch int) (fm, scores []float32, err error)
	Close() error
}

var _ features = (*Session)(nil)

type onednnFeatures struct{ x *onednn.Executor }

func (f onednnFeatures) RunScores(ctx context.Context, input []float32, batch int) ([]float32, []float32, error) {
	fm, err := f.x.Run(ctx, input, batch)
	return fm, nil, err
}

func (f onednnFeatures) Close() error { return f.x.Close() }

// openFeatures opens what runs spec's trunk as o asks, saying on o.Log
// why EngineAuto fell back to ONNX Runtime.
func openFeatures(rt *Runtime, spec model.Spec, o Options) (features, EngineInfo, error) {
	bf16, int8 := o.BF16Features, o.Int8Features
	if bf16 == nil {
		bf16 = CPUBF16Features
	}
	if int8 == nil {
		int8 = CPUInt8Features
	}
	info, err := ChooseEngine(spec, o.Engine, o.Precision, bf16(), int8())
	if err != nil {
		return nil, EngineInfo{}, fmt.Errorf("model %s: %w", spec.Name, err)
	}
	if info.Engine == EngineOneDNN {
		x, err := onednn.New(spec, &onednn.Options{Threads: o.Threads, Precision: onednn.Precision(info.Precision)})
		switch {
		case err == nil:
			info.Kernels = onednn.Summary(x.Kernels())
			return onednnFeatures{x}, info, nil
		case o.Engine == EngineOneDNN || o.Precision == PrecisionBF16:
			return nil, EngineInfo{}, err
		}
		ort := EngineInfo{Engine: EngineORT, Precision: PrecisionFP32}
		if info.Precision == PrecisionInt8 {
			ort.Precision = PrecisionInt8 // the same int8 model
		}
		info = withNote(ort, strings.TrimPrefix(err.Error(), "onednn: "))
	}
	if info.Note != "" && o.Log != nil {
		fmt.Fprintln(o.Log, info.Note)
	}
	s, err := rt.NewSession(spec, &SessionOptions{Threads: o.Threads, CacheDir: o.GraphCache, Log: o.Log, Spin: o.Spin})
	if err != nil {
		return nil, EngineInfo{}, err
	}
	return s, info, nil
}

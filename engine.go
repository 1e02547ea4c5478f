package simsearch

import (
	"fmt"
	"strings"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// EngineInfo says what runs a Model's trunk and in which precision:
// ONNX Runtime (every model; fp32, or int8 for an int8 model) or oneDNN
// (VGG-shaped trunks; fp32 or bf16, or int8 for an int8 model), the
// kernels oneDNN chose, and why the automatic choice fell back to ONNX
// Runtime.
type EngineInfo = extractor.EngineInfo

// The environment variables the CLI reads for ModelOptions.Engine and
// ModelOptions.Precision.
const (
	EngineEnv    = "SIMSEARCH_ENGINE"
	PrecisionEnv = "SIMSEARCH_PRECISION"
)

// Engine returns what ran this Model's embeddings; ok is false before
// the first embedding (the engine is chosen and loaded with it).
func (m *Model) Engine() (info EngineInfo, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ex == nil {
		return EngineInfo{}, false
	}
	return m.ex.Engine(), true
}

// bf16 and fp32 vectors share a database: the same fingerprint, so
// either engine adds to and queries a database that the other built.
// Measured on the sample photos (TestEngine_BF16Gates): the cosine
// between bf16 and fp32 embeddings of the same photo is 0.99927 median,
// 0.99869 at worst, against a gap of 0.17 between the copies' lowest
// score and the other photos' highest; dedup pairs, recall@k and mAP are
// the same. int8, which keeps only 0.978, gets its own model and
// fingerprint instead. What a database records is the
// engine that built it, after its model's label (engineSep), for stats.
const engineSep = "@"

// dbLabel is the model label a new database records: Label, then the
// engine when it is not ONNX Runtime (older databases and ONNX Runtime's
// record the bare label). The engine is the one the first embedding will
// choose (extractor.ChooseEngine, which loads libdnnl but not the model:
// Open still loads no model); when making the oneDNN executor then fails,
// that embedding runs on ONNX Runtime under the label it has.
func (m *Model) dbLabel() string {
	i, ok := m.Engine()
	if !ok {
		eng, prec, err := parseEngine(&m.opts)
		if err != nil {
			return m.Label()
		}
		if i, err = extractor.ChooseEngine(m.spec, eng, prec, bf16Features(&m.opts), int8Features(&m.opts)); err != nil {
			return m.Label()
		}
	}
	switch {
	case i.Engine == extractor.EngineOneDNN:
	case i.Precision == extractor.PrecisionInt8 && !IsInt8(m.spec.Name):
		// An int8 model whose name does not say so: the record must.
	default:
		return m.Label()
	}
	return m.Label() + engineSep + string(i.Engine) + "-" + string(i.Precision)
}

// splitLabel splits a recorded label into the model/pooling label and the
// engine that built the database ("" for ONNX Runtime).
func splitLabel(recorded string) (label, engine string) {
	label, engine, _ = strings.Cut(recorded, engineSep)
	return label, engine
}

// builtWith names the engine and precision a database was built with for
// people: "onednn bf16", "onnxruntime fp32" or, for an int8 model,
// "onnxruntime int8".
func builtWith(recorded string) string {
	label, engine := splitLabel(recorded)
	if e, prec, ok := strings.Cut(engine, "-"); ok {
		if e == string(extractor.EngineORT) {
			e = "onnxruntime"
		}
		return e + " " + prec
	}
	name, _, _ := strings.Cut(label, "/")
	if IsInt8(name) {
		return "onnxruntime int8"
	}
	return "onnxruntime fp32"
}

// parseEngine checks ModelOptions' engine and precision.
func parseEngine(o *ModelOptions) (extractor.Engine, extractor.Precision, error) {
	eng, err := extractor.ParseEngine(o.Engine)
	if err != nil {
		return "", "", err
	}
	prec, err := extractor.ParsePrecision(o.Precision)
	if err != nil {
		return "", "", err
	}
	return eng, prec, nil
}

// EngineReport says, for --version, what runs VGG trunks on this machine
// with opts' engine and precision (nil means auto): oneDNN's version and
// instruction set or why it does not load, the CPU's bf16 instructions
// (its int8 ones are on --version's int8 line), and the engine chosen
// for a float and for an int8 model.
func EngineReport(opts *ModelOptions) string {
	var o ModelOptions
	if opts != nil {
		o = *opts
	}
	var b strings.Builder
	if v, isa, err := extractor.OneDNN(); err != nil {
		fmt.Fprintf(&b, "oneDNN not available (%v)", err)
	} else {
		fmt.Fprintf(&b, "oneDNN %s (%s)", v, isa)
	}
	flags, int8 := bf16Features(&o), int8Features(&o)
	if len(flags) == 0 {
		b.WriteString(", no AMX-BF16 or AVX512-BF16 on this CPU")
	} else {
		fmt.Fprintf(&b, ", CPU bf16: %s", strings.Join(flags, ", "))
	}
	eng, prec, err := parseEngine(&o)
	if err != nil {
		return b.String() + "; " + err.Error()
	}
	// What float and int8 VGG trunks run on; a precision that one of
	// them cannot take is said for that one.
	e, _ := model.Lookup("vgg16-random")
	q := e.Spec
	q.Name, q.Quantized = model.QuantizedName(q.Name), model.QuantizedInt8
	var runs []string
	for _, s := range []model.Spec{e.Spec, q} {
		kind := "float"
		if s.Name == q.Name {
			kind = "int8"
		}
		info, err := extractor.ChooseEngine(s, eng, prec, flags, int8)
		if err != nil {
			runs = append(runs, fmt.Sprintf("%s VGG trunks: %v", kind, err))
			continue
		}
		runs = append(runs, fmt.Sprintf("%s VGG trunks run on %s", kind, info))
	}
	fmt.Fprintf(&b, "; %s (engine %s)", strings.Join(runs, ", "), eng)
	return b.String()
}

// bf16Features and int8Features are the CPU's instructions for the
// engine choice: o's, else /proc/cpuinfo's.
func bf16Features(o *ModelOptions) []string {
	if o.BF16Features != nil {
		return o.BF16Features()
	}
	return extractor.CPUBF16Features()
}

func int8Features(o *ModelOptions) []string {
	if o.Int8Features != nil {
		return o.Int8Features()
	}
	return extractor.CPUInt8Features()
}

//go:build cgo

package extractor

import (
	"fmt"
	"runtime"

	ort "github.com/yalue/onnxruntime_go"
)

// Probe runs an ONNX graph held in memory and returns any of its float
// tensors that are graph outputs, whole: what calibrating a quantization
// needs (intermediate activations), which Session does not give.
type Probe struct {
	s       *ort.DynamicAdvancedSession
	outputs []string
}

// NewProbe opens the graph onnxData with one input and the named float
// outputs, on threads intra-op threads (0: all cores). Graph optimisation
// is at its basic level, which keeps every named tensor.
func (r *Runtime) NewProbe(onnxData []byte, input string, outputs []string, threads int) (*Probe, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("probe: session options: %w", err)
	}
	defer so.Destroy()
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("probe: set threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableBasic); err != nil {
		return nil, fmt.Errorf("probe: set optimisation level: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(onnxData, []string{input}, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("probe: %w: %s", ErrModelFile, firstLine(err))
	}
	return &Probe{s: s, outputs: outputs}, nil
}

// Run feeds input, of the given shape, and returns each output's values
// in the order NewProbe named them.
func (p *Probe) Run(input []float32, shape []int64) ([][]float32, error) {
	in, err := ort.NewTensor(ort.NewShape(shape...), input)
	if err != nil {
		return nil, fmt.Errorf("probe: input tensor: %w", err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(p.outputs))
	if err := p.s.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("probe: run: %s", firstLine(err))
	}
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	res := make([][]float32, len(outs))
	for i, o := range outs {
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("probe: output %s is not a float32 tensor", p.outputs[i])
		}
		res[i] = append([]float32(nil), t.GetData()...)
	}
	return res, nil
}

// Close releases the session.
func (p *Probe) Close() error { return p.s.Destroy() }

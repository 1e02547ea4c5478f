//go:build !cgo

package extractor

// Probe is unavailable without cgo.
type Probe struct{}

// NewProbe always fails without cgo.
func (*Runtime) NewProbe([]byte, string, []string, int) (*Probe, error) {
	return nil, ErrRuntimeUnavailable
}

// Run always fails without cgo.
func (*Probe) Run([]float32, []int64) ([][]float32, error) { return nil, ErrRuntimeUnavailable }

// Close does nothing.
func (*Probe) Close() error { return nil }

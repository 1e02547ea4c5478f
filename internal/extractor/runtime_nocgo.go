//go:build !cgo

package extractor

import (
	"context"

	"github.com/simsearch/simsearch/model"
)

// Runtime is unavailable without cgo; see ErrRuntimeUnavailable.
type Runtime struct{}

// OpenRuntime always fails without cgo.
func OpenRuntime(*RuntimeOptions) (*Runtime, error) { return nil, ErrRuntimeUnavailable }

// Library returns "".
func (*Runtime) Library() string { return "" }

// Version returns "".
func (*Runtime) Version() string { return "" }

// Close does nothing.
func (*Runtime) Close() error { return nil }

// Session is unavailable without cgo.
type Session struct{}

// NewSession always fails without cgo.
func (*Runtime) NewSession(model.Spec, *SessionOptions) (*Session, error) {
	return nil, ErrRuntimeUnavailable
}

// Run always fails without cgo.
func (*Session) Run([]float32, int) ([]float32, error) { return nil, ErrRuntimeUnavailable }

// RunContext always fails without cgo.
func (*Session) RunContext(context.Context, []float32, int) ([]float32, error) {
	return nil, ErrRuntimeUnavailable
}

// RunScores always fails without cgo.
func (*Session) RunScores(context.Context, []float32, int) ([]float32, []float32, error) {
	return nil, nil, ErrRuntimeUnavailable
}

// GraphCache returns "", false.
func (*Session) GraphCache() (string, bool) { return "", false }

// Close does nothing.
func (*Session) Close() error { return nil }

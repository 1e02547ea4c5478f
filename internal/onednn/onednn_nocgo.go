//go:build !cgo || nodnnl

package onednn

import (
	"context"
	"errors"

	"github.com/simsearch/simsearch/model"
)

// LibraryName is the file a cgo build loads: oneDNN 2.x's SONAME.
const LibraryName = "libdnnl.so.2"

var errNotBuilt = errors.New("onednn: not built in (built without cgo or with -tags nodnnl)")

// Available is false: this build has no oneDNN engine.
func Available() (ok bool, why string) { return false, errNotBuilt.Error() }

// Version is "" in this build.
func Version() string { return "" }

// ISA is "" in this build.
func ISA() string { return "" }

// Executor is unavailable in this build.
type Executor struct{}

// New always fails in this build.
func New(model.Spec, *Options) (*Executor, error) { return nil, errNotBuilt }

// Run always fails in this build.
func (*Executor) Run(context.Context, []float32, int) ([]float32, error) { return nil, errNotBuilt }

// Precision is "".
func (*Executor) Precision() Precision { return "" }

// Threads is 0.
func (*Executor) Threads() int { return 0 }

// Kernels is nil.
func (*Executor) Kernels() []Kernel { return nil }

// Close does nothing.
func (*Executor) Close() error { return nil }

//go:build cgo && !nodnnl

package onednn

import "context"

// StepTime is one primitive's time in a profiled run.
type StepTime = stepTime

// Profile runs one batch on x and returns each primitive's time, in order.
func Profile(x *Executor, in []float32, batch int) ([]StepTime, error) {
	var p []stepTime
	_, err := x.submit(context.Background(), in, batch, &p)
	return p, err
}

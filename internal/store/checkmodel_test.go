package store

import (
	"errors"
	"testing"
)

// CheckModel is the one model check of both backends: what it refuses,
// what it records, and that it counts items only when it must.
func TestCheckModel(t *testing.T) {
	fp := ModelRecord{Fingerprint: "fp1", Name: "vgg16/rmac", Dims: 512}
	for _, c := range []struct {
		name              string
		have, want        ModelRecord
		items             int
		mismatch          bool
		setModel, setDims bool
		counted           bool
	}{
		{name: "same model", have: fp, want: fp},
		{name: "any model", have: fp, want: ModelRecord{}},
		{name: "other fingerprint", have: fp, want: ModelRecord{Fingerprint: "fp2", Name: "vgg19/gem", Dims: 512}, mismatch: true},
		{name: "other dimensions", have: fp, want: ModelRecord{Fingerprint: "fp1", Dims: 256}, mismatch: true},
		{name: "new database", want: fp, setModel: true, setDims: true, counted: true},
		{name: "items of an unrecorded model", want: fp, items: 3, mismatch: true, counted: true},
		{name: "dimensions only", have: ModelRecord{Fingerprint: "fp1"}, want: fp, setDims: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			counted := false
			setModel, setDims, err := CheckModel(c.have, c.want, func() (int, error) { counted = true; return c.items, nil })
			if errors.Is(err, ErrModelMismatch) != c.mismatch || (err != nil && !c.mismatch) {
				t.Fatalf("err = %v, want mismatch %t", err, c.mismatch)
			}
			if !c.mismatch && (setModel != c.setModel || setDims != c.setDims) {
				t.Errorf("records model %t, dims %t; want %t, %t", setModel, setDims, c.setModel, c.setDims)
			}
			if counted != c.counted {
				t.Errorf("items counted %t, want %t", counted, c.counted)
			}
		})
	}
	failing := errors.New("count failed")
	if _, _, err := CheckModel(ModelRecord{}, fp, func() (int, error) { return 0, failing }); !errors.Is(err, failing) {
		t.Errorf("a failing count: %v", err)
	}
}

package model

import (
	"fmt"
	"strings"
)

// Status is one model as `model list` shows it: from the catalog, the
// model directory or both.
type Status struct {
	Name        string
	Description string
	Installed   bool
	Ready       bool // installed with its post-processing centres
	InCatalog   bool
	Offline     bool   // a catalog model built here rather than downloaded
	Spec        Spec   // the installed spec, else the catalog's
	Get         string // how to install it when it is not: "model pull NAME", "built offline on first use"
}

// List returns the catalog's models in catalog order, then the other
// models installed in dir (registered ones) by name.
func List(dir string) ([]Status, error) {
	inst, err := Installed(dir)
	if err != nil {
		return nil, err
	}
	have := map[string]Spec{}
	for _, s := range inst {
		have[s.Name] = s
	}
	var out []Status
	for _, e := range Catalog() {
		s, ok := have[e.Name]
		st := Status{Name: e.Name, Description: e.Description, Installed: ok, Ready: ok && len(s.Center) > 0, InCatalog: true, Offline: e.URL == "", Spec: s}
		if !ok {
			st.Spec = e.Spec
		}
		st.Get = "model pull " + e.Name
		if st.Offline {
			st.Get = "built offline on first use"
		}
		out = append(out, st)
		delete(have, e.Name)
	}
	for _, s := range inst {
		if _, ok := have[s.Name]; ok {
			out = append(out, Status{Name: s.Name, Description: s.Description, Installed: true, Ready: len(s.Center) > 0, Spec: s})
		}
	}
	return out, nil
}

// Preset returns a named preprocessing at the given input side: "torch"
// (the PyTorch model zoo's) or "caffe" (Keras' vgg16.preprocess_input; also
// called "keras").
func Preset(name string, size int) (Preprocess, error) {
	switch strings.ToLower(name) {
	case "torch", "pytorch":
		return TorchPreprocess(size), nil
	case "caffe", "keras":
		return CaffePreprocess(size), nil
	}
	return Preprocess{}, fmt.Errorf("%w: unknown preprocessing preset %q (torch or caffe)", ErrSpec, name)
}

package model

import (
	"io"

	"github.com/simsearch/simsearch/internal/onnx"
)

// Describe writes the layer table of the ONNX file at path to w: each
// node's name, operator, output shape, parameters and multiply-adds, then
// the totals.
func Describe(w io.Writer, path string) error {
	m, err := onnx.ReadModel(path)
	if err != nil {
		return err
	}
	return onnx.Summary(w, m)
}

// Dot writes the graph of the ONNX file at path to w in Graphviz's dot
// language.
func Dot(w io.Writer, path string) error {
	m, err := onnx.ReadModel(path)
	if err != nil {
		return err
	}
	return onnx.Dot(w, m)
}

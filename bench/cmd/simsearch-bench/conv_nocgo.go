//go:build !cgo

package main

import "github.com/simsearch/simsearch/internal/extractor"

func convCeiling(*extractor.Runtime, convShape, int, bool) (convFigure, error) {
	return convFigure{}, extractor.ErrRuntimeUnavailable
}

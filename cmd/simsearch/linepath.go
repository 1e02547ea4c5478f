package main

import "github.com/simsearch/simsearch/internal/quote"

// linePath is p as it is written in a one-line message (quote.Path: Go-
// quoted when it holds a control character or invalid UTF-8).
func linePath(p string) string { return quote.Path(p) }

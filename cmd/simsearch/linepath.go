package main

import (
	"strconv"
	"strings"
	"unicode"
)

// linePath is p as it is written in a one-line message: unchanged unless
// it holds a control character (a newline in a file name would split the
// line), in which case it is Go-quoted so that the line stays whole and
// the name can still be read back exactly.
func linePath(p string) string {
	if strings.IndexFunc(p, unicode.IsControl) < 0 {
		return p
	}
	return strconv.Quote(p)
}

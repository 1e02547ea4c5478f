// Package quote writes file paths into one-line messages so that every
// byte of them can be read back: a path as stored may hold a newline, a
// terminal escape or, in a damaged database, any byte at all.
package quote

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path is p as it is written in a one-line message: unchanged unless it
// holds a control character (a newline would split the line, an escape
// would reach the terminal) or is not valid UTF-8, in which case it is
// Go-quoted, so the line stays whole and the name reads back exactly
// with strconv.Unquote.
func Path(p string) string {
	if utf8.ValidString(p) && strings.IndexFunc(p, unicode.IsControl) < 0 {
		return p
	}
	return strconv.Quote(p)
}

package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestLinePath(t *testing.T) {
	for _, p := range []string{"/photos/cat.jpg", "/photos/with space ünïcode ✓.jpg"} {
		if got := linePath(p); got != p {
			t.Errorf("linePath(%q) = %q, want it unchanged", p, got)
		}
	}
	for _, p := range []string{"/photos/line\nbreak.jpg", "/photos/tab\there.jpg", "/photos/cr\r.jpg"} {
		got := linePath(p)
		if strings.ContainsAny(got, "\n\r\t") {
			t.Errorf("linePath(%q) = %q still holds a control character", p, got)
		}
		if back, err := strconv.Unquote(got); err != nil || back != p {
			t.Errorf("linePath(%q) = %q does not read back (%q, %v)", p, got, back, err)
		}
	}
}

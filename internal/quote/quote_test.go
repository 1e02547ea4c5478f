package quote

import (
	"strconv"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPath(t *testing.T) {
	for _, p := range []string{"/photos/cat.jpg", "/photos/with space ünïcode ✓.jpg", ""} {
		if got := Path(p); got != p {
			t.Errorf("Path(%q) = %q, want it unchanged", p, got)
		}
	}
	for _, p := range []string{
		"/photos/line\nbreak.jpg", "/photos/tab\there.jpg", "/photos/cr\r.jpg",
		"/photos/esc\x1b[31m.jpg", "/photos/del\x7f.jpg", "/photos/c1\u0085.jpg",
		"/photos/flipped\xe9.jpg", "/photos/\xff\xfe",
	} {
		got := Path(p)
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Errorf("Path(%q) = %q still holds a control character", p, got)
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("Path(%q) = %q is not valid UTF-8", p, got)
		}
		if back, err := strconv.Unquote(got); err != nil || back != p {
			t.Errorf("Path(%q) = %q does not read back (%q, %v)", p, got, back, err)
		}
	}
}

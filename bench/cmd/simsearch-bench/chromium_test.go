package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestBrowser_OpensAPageAndTimesIt(t *testing.T) {
	path := findChromium()
	if path == "" {
		t.Skip("Chromium is not installed (apt-get install chromium)")
	}
	page := filepath.Join(t.TempDir(), "p.html")
	if err := os.WriteFile(page, []byte(`<!doctype html><title>t</title><p>hello</p><div class="group"><div class="thumb"><img src="missing.jpg"></div></div>`), 0o644); err != nil {
		t.Fatal(err)
	}
	br, err := startBrowser(path)
	if err != nil {
		t.Fatal(err)
	}
	defer br.close()
	tm, err := br.open(context.Background(), "file://"+page)
	if err != nil {
		t.Fatal(err)
	}
	if tm.LoadMS <= 0 || tm.DOMContentLoadedMS <= 0 || tm.LoadMS < tm.DOMContentLoadedMS || tm.WallMS <= 0 {
		t.Errorf("timing %+v: want DOMContentLoaded > 0 and load after it", tm)
	}
	if tm.Images != 1 || tm.ImagesLoaded != 0 || tm.ScreenImages != 1 {
		t.Errorf("images %+v: want one, not loaded, in the first screen", tm)
	}
	if _, err := br.open(context.Background(), "file:///nonexistent/simsearch/page.html"); err == nil {
		t.Error("no error for a page that does not exist")
	}
}

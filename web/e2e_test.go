package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive: `make test` installs Debian's
// chromium package where it can (see the Makefile's chromium target).
// SIMSEARCH_E2E=off skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("SIMSEARCH_E2E") == "off" {
		t.Skip("SIMSEARCH_E2E=off")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: install Debian's chromium package (`make test` does as root), or set SIMSEARCH_E2E=off")
	return ""
}

// screenshot writes the viewport to docs/screenshots/NAME.png when
// SIMSEARCH_SCREENSHOTS=1 asks for it (so that CI leaves the tree alone).
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if os.Getenv("SIMSEARCH_SCREENSHOTS") != "1" {
			return nil
		}
		png, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return err
		}
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(60*time.Second))
}

// eval is the value of a JavaScript expression on the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// thumbsLoaded is true when every image shown has loaded (the hidden
// views' lazy images wait until they are shown).
const thumbsLoaded = `[...document.images].filter(i => i.offsetParent !== null).every(i => i.complete && i.naturalWidth > 0)`

// In a real headless Chromium: the gallery shows the photos; dropping a
// copy of a sample photo on the drop zone shows its original first, and so
// does picking one; in the duplicates view
// choosing another keeper (by keyboard) and applying a move moves exactly
// the other files of the group, and undo puts the tree back byte for byte;
// a "not duplicates" decision is forgotten with its key.
func TestE2E_Page(t *testing.T) {
	exe := chromium(t)
	f := newFixture(t, nil)
	dahlia, clock := filepath.Join(f.photos, "dahlia.jpg"), filepath.Join(f.photos, "clock.jpg")
	dropped, err := os.ReadFile(dahlia)
	if err != nil {
		t.Fatal(err)
	}
	picked := filepath.Join(t.TempDir(), "IMG_0002.jpg")
	copyFile(t, clock, picked, time.Now())

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first run starts the browser, for as long as its context lives:
	// the time limit goes on a context derived from it.
	start := time.Now()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(browser, 4*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	do("gallery",
		chromedp.Navigate(f.srv.URL+"/"),
		waitJS(fmt.Sprintf(`document.querySelectorAll("#gallery .card").length === %d`, len(sampleNames)+1)),
		waitJS(thumbsLoaded),
		screenshot("gallery"),
	)
	if notice := eval[string](t, ctx, `document.getElementById("notice").textContent`); !strings.Contains(notice, "random weights") {
		t.Errorf("the page does not say the model has random weights: %q", notice)
	}

	// Search by dropping a copy: the drag events a browser sends, on the
	// drop zone, with a file made of the photo's bytes. The page must
	// accept the drag (cancel dragover) and mark the zone while over it.
	got := eval[[]bool](t, ctx, fmt.Sprintf(`(() => {
		const bin = atob(%q), bytes = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], "IMG_0001.jpg", {type: "image/jpeg"}));
		const zone = document.getElementById("drop");
		const fire = (type) => {
			const ev = new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt});
			zone.dispatchEvent(ev);
			return ev.defaultPrevented;
		};
		fire("dragenter");
		const accepted = fire("dragover"), marked = zone.classList.contains("over");
		const taken = fire("drop");
		return [accepted, marked, taken, !zone.classList.contains("over")];
	})()`, base64.StdEncoding.EncodeToString(dropped)))
	if !slices.Equal(got, []bool{true, true, true, true}) {
		t.Fatalf("drag and drop on the drop zone: dragover accepted, zone marked, drop taken, mark gone = %v; want all true", got)
	}
	do("search by drop",
		waitJS(`document.getElementById("search-summary").textContent.includes("for IMG_0001.jpg")`),
		chromedp.WaitVisible(chromedp.CSS(`#results .card`)),
		waitJS(thumbsLoaded),
		screenshot("search"),
	)
	if first := eval[string](t, ctx, `document.querySelector("#results .card").dataset.path`); first != dahlia {
		t.Fatalf("search by dropping a copy of dahlia.jpg: first result %s, want %s", first, dahlia)
	}
	// And by picking one through the file input.
	do("search by pick",
		chromedp.SetUploadFiles(chromedp.CSS(`#pick`), []string{picked}),
		waitJS(`document.getElementById("search-summary").textContent.includes("for IMG_0002.jpg")`),
	)
	if first := eval[string](t, ctx, `document.querySelector("#results .card").dataset.path`); first != clock {
		t.Fatalf("search by picking a copy of clock.jpg: first result %s, want %s", first, clock)
	}

	// Duplicates: the group kept by cat.jpg gets its copy as keeper, the
	// other groups are skipped, all with the keyboard.
	before := tree(t, f.photos)
	do("duplicates",
		chromedp.Click(chromedp.CSS(`#nav-dups`)),
		chromedp.WaitVisible(chromedp.CSS(`.group`)),
		waitJS(thumbsLoaded),
	)
	groups := eval[[]string](t, ctx, `[...document.querySelectorAll(".group")].map(g => g.querySelector(".card").dataset.path)`)
	at := slices.Index(groups, f.cat)
	if at < 0 {
		t.Fatalf("duplicates view: groups kept by %v, none by %s", groups, f.cat)
	}
	files := eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll(".group")[%d].querySelectorAll(".card")].map(c => c.dataset.path)`, at))
	copyAt := slices.Index(files, f.catCopy)
	if copyAt < 1 || copyAt > 8 {
		t.Fatalf("group of cat.jpg shows %v; want its copy among the first 9", files)
	}
	var keys []chromedp.Action[chromedp.Void]
	for i := range groups {
		if i > 0 {
			keys = append(keys, chromedp.KeyEvent("j"))
		}
		if i == at {
			keys = append(keys, chromedp.KeyEvent(fmt.Sprint(copyAt+1)))
		} else {
			keys = append(keys, chromedp.KeyEvent("x"))
		}
	}
	do("choose a keeper", keys...)
	if keeper := eval[string](t, ctx, fmt.Sprintf(`document.querySelectorAll(".group")[%d].querySelector(".card.keeper").dataset.path`, at)); keeper != f.catCopy {
		t.Fatalf("keeper marked after pressing %d: %s, want %s", copyAt+1, keeper, f.catCopy)
	}
	do("dry run",
		chromedp.Click(chromedp.CSS(`#act-move`)),
		chromedp.KeyEvent("p"),
		chromedp.WaitVisible(chromedp.CSS(`#plan`)),
		screenshot("duplicates"),
	)
	want := slices.DeleteFunc(slices.Clone(files), func(p string) bool { return p == f.catCopy })
	if steps := eval[int](t, ctx, `document.querySelectorAll("#plan-steps li:not(.skipped)").length`); steps != len(want) {
		t.Fatalf("dry run lists %d moves, want %d (%v)", steps, len(want), want)
	}
	if !mapsEqual(tree(t, f.photos), before) {
		t.Fatal("the dry run changed files")
	}
	do("apply",
		chromedp.Click(chromedp.CSS(`#apply`)),
		waitJS(`document.getElementById("status").textContent.includes("files changed")`),
	)
	checkMoved(t, before, f.photos, f.moveTo, want)
	do("undo",
		chromedp.Click(chromedp.CSS(`#undo`)),
		waitJS(`document.getElementById("status").textContent.includes("undid run")`),
	)
	if !mapsEqual(tree(t, f.photos), before) || len(tree(t, f.moveTo)) != 0 {
		t.Errorf("after undo the tree differs from before")
	}
	// "Not duplicates" on the first group takes it away; the key f
	// forgets that decision and the group is back.
	groupsShown := `document.querySelectorAll(".group").length`
	do("groups after undo", waitJS(fmt.Sprintf(`%s === %d`, groupsShown, len(groups))))
	do("not duplicates",
		chromedp.KeyEvent("j"),
		chromedp.KeyEvent("i"),
		waitJS(fmt.Sprintf(`%s === %d && !document.getElementById("decisions-box").hidden`, groupsShown, len(groups)-1)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("decisions-box").open = true`),
		screenshot("decision"),
	)
	if n := eval[int](t, ctx, `document.querySelectorAll("#decisions .decision").length`); n != 1 {
		t.Fatalf("after \"not duplicates\" the page lists %d decisions, want 1", n)
	}
	do("forget it",
		chromedp.KeyEvent("f"),
		waitJS(fmt.Sprintf(`%s === %d && document.getElementById("decisions-box").hidden`, groupsShown, len(groups))),
	)
	if again := eval[[]string](t, ctx, `[...document.querySelectorAll(".group")].map(g => g.querySelector(".card").dataset.path)`); !slices.Equal(again, groups) {
		t.Errorf("after forgetting the decision the groups are kept by %v, want %v as before", again, groups)
	}
	// A phone-sized screen: the gallery lays out without sideways scrolling.
	do("phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Click(chromedp.CSS(`#nav-gallery`)),
		waitJS(thumbsLoaded),
		screenshot("phone"),
	)
	if width := eval[int](t, ctx, `document.documentElement.scrollWidth`); width > 390 {
		t.Errorf("at 390 px wide the page scrolls sideways (%d px)", width)
	}
	t.Logf("e2e in Chromium: %v", time.Since(start).Round(time.Millisecond))
}

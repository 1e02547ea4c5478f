package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// chromiumNames are the commands a headless Chromium is looked for under.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the path of an installed Chromium, or "" when none is.
func findChromium() string {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: Chromium reads NUL-terminated JSON
// messages on its fd 3 and writes them on fd 4), which needs neither a
// port nor a WebSocket client. The four commands a page load needs are
// not worth chromedp's generated protocol packages.
type browser struct {
	cmd     *exec.Cmd
	profile string
	send    io.WriteCloser
	stderr  *os.File // Chromium's, in the profile, for errors

	mu      sync.Mutex
	nextID  int
	replies map[int]chan cdpMessage
	events  chan cdpMessage
	readErr error
	done    chan struct{}
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser starts Chromium headless with a fresh profile.
func startBrowser(path string) (*browser, error) {
	profile, err := os.MkdirTemp("", "simsearch-bench-chromium-")
	if err != nil {
		return nil, err
	}
	// Chromium's fd 3 is what it reads: the read end of toBrowser.
	toBrowserR, toBrowserW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromBrowserR, fromBrowserW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	b := &browser{profile: profile, send: toBrowserW, replies: map[int]chan cdpMessage{},
		events: make(chan cdpMessage, 256), done: make(chan struct{})}
	b.cmd = exec.Command(path, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--window-size=1280,800",
		"--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
		"--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toBrowserR, fromBrowserW}
	if b.stderr, err = os.Create(profile + "/stderr"); err != nil {
		return nil, err
	}
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(profile)
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	toBrowserR.Close()
	fromBrowserW.Close()
	go b.read(fromBrowserR)
	return b, nil
}

// read dispatches replies to their callers and events to b.events.
func (b *browser) read(r io.ReadCloser) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			msg, _ := os.ReadFile(b.stderr.Name())
			b.readErr = fmt.Errorf("chromium closed the pipe: %w (its last words: %s)", err, lastLine(msg))
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(line[:len(line)-1], &m); err != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.replies[m.ID]
			delete(b.replies, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- m:
		default: // nobody waits for this many events; drop
		}
	}
}

// call sends one command and waits for its reply.
func (b *browser) call(ctx context.Context, session, method string, params any, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return err
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.replies[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.send.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-b.done:
		return b.readErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns when the event method arrives for session.
func (b *browser) wait(ctx context.Context, session, method string) error {
	for {
		select {
		case m := <-b.events:
			if m.Method == method && m.SessionID == session {
				return nil
			}
		case <-b.done:
			return b.readErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pageTiming is a page load as the page's own Navigation Timing saw it,
// in milliseconds from the start of navigation, and as the harness saw
// it from the navigate command to the load event.
type pageTiming struct {
	DOMContentLoadedMS float64 `json:"dom_content_loaded_ms"`
	LoadMS             float64 `json:"load_ms"`
	FirstPaintMS       float64 `json:"first_contentful_paint_ms"`
	WallMS             float64 `json:"wall_ms"`
	// ScreenMS is when the thumbnails in the first screen had all
	// loaded, ScreenImages how many there were.
	ScreenMS     float64 `json:"first_screen_ms"`
	ScreenImages int     `json:"first_screen_images"`
	Images       int     `json:"images"`
	ImagesLoaded int     `json:"images_loaded"`
}

// timingScript runs once the load event has fired; its promise settles
// when the thumbnails in the first screen have loaded (or failed).
const timingScript = `(async () => {
  const n = performance.getEntriesByType('navigation')[0];
  const p = performance.getEntriesByName('first-contentful-paint')[0];
  const imgs = Array.from(document.images);
  const loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  // The groups in the window, then their thumbnails in it: asking every
  // image where it is would lay out the whole page.
  const screen = [];
  for (const g of document.querySelectorAll('.group')) {
    const r = g.getBoundingClientRect();
    if (r.top >= innerHeight) break;
    if (r.bottom <= 0) continue;
    for (const i of g.querySelectorAll('img')) {
      const b = i.parentElement.getBoundingClientRect();
      if (b.right > 0 && b.left < innerWidth) screen.push(i);
    }
  }
  await Promise.all(screen.map(i => i.complete ? null : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return JSON.stringify({dom_content_loaded_ms: n.domContentLoadedEventStart, load_ms: n.loadEventStart,
    first_contentful_paint_ms: p ? p.startTime : 0, first_screen_ms: performance.now(),
    first_screen_images: screen.length, images: imgs.length, images_loaded: loaded});
})()`

// open loads url in a new tab, waits for its load event and returns the
// page's timing; the tab is closed afterwards.
func (b *browser) open(ctx context.Context, url string) (pageTiming, error) {
	var t pageTiming
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return t, err
	}
	defer b.call(context.Background(), "", "Target.closeTarget", map[string]any{"targetId": target.TargetID}, nil)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return t, err
	}
	s := attached.SessionID
	if err := b.call(ctx, s, "Page.enable", nil, nil); err != nil {
		return t, err
	}
	start := time.Now()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, s, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return t, err
	}
	if nav.ErrorText != "" {
		return t, fmt.Errorf("open %s: %s", url, nav.ErrorText)
	}
	if err := b.wait(ctx, s, "Page.loadEventFired"); err != nil {
		return t, fmt.Errorf("open %s: %w", url, err)
	}
	t.WallMS = float64(time.Since(start).Microseconds()) / 1000
	var res struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, s, "Runtime.evaluate", map[string]any{"expression": timingScript, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return t, err
	}
	if res.ExceptionDetails != nil {
		return t, errors.New("timing script: " + res.ExceptionDetails.Text)
	}
	// The script's JSON has no wall_ms, so the harness's figure stays.
	err := json.Unmarshal([]byte(res.Result.Value), &t)
	return t, err
}

// close ends Chromium and removes its profile.
func (b *browser) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b.call(ctx, "", "Browser.close", nil, nil)
	cancel()
	b.send.Close()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
	}
	b.cmd.Wait()
	b.stderr.Close()
	os.RemoveAll(b.profile)
}

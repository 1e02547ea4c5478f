package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image/jpeg"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsearch/simsearch"
)

// The model is prepared once for every test: building vgg16-random and its
// centres takes seconds.
var shared struct {
	once  sync.Once
	dir   string
	model *simsearch.Model
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.model != nil {
		shared.model.Close()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func testModel(t testing.TB) *simsearch.Model {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "simsearch-web-models-"); shared.err != nil {
			return
		}
		shared.model, shared.err = simsearch.PrepareModel(context.Background(), &simsearch.ModelOptions{Dir: shared.dir, Name: "vgg16-random"})
	})
	if shared.err != nil {
		t.Fatalf("prepare vgg16-random: %v", shared.err)
	}
	return shared.model
}

// fixture is a served database of a few sample photos, with an exact copy
// and an edited copy of cat.jpg.
type fixture struct {
	srv     *httptest.Server
	h       *Handler
	db      string
	photos  string // the folder indexed
	moveTo  string
	cat     string // photos/cat.jpg, the original
	catCopy string // photos/copies/cat.jpg, byte for byte the same
	bright  string // photos/cat--bright.jpg
}

var sampleNames = []string{"cat.jpg", "cat--bright.jpg", "dahlia.jpg", "astronaut.jpg", "clock.jpg"}

func copyFile(t testing.TB, src, dst string, mtime time.Time) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t testing.TB, opts *Options) *fixture {
	t.Helper()
	m := testModel(t)
	root := t.TempDir()
	f := &fixture{db: filepath.Join(root, "db", "photos.db"), photos: filepath.Join(root, "photos"), moveTo: filepath.Join(root, "moved")}
	f.cat, f.catCopy, f.bright = filepath.Join(f.photos, "cat.jpg"), filepath.Join(f.photos, "copies", "cat.jpg"), filepath.Join(f.photos, "cat--bright.jpg")
	// The original is the oldest file, so the default rules keep it.
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, name := range sampleNames {
		copyFile(t, filepath.Join("..", "testdata", "photos", name), filepath.Join(f.photos, name), old.Add(time.Duration(i)*time.Hour))
	}
	copyFile(t, filepath.Join("..", "testdata", "photos", "cat.jpg"), f.catCopy, old.Add(24*time.Hour))
	ctx := context.Background()
	w, err := simsearch.Open(ctx, &simsearch.Options{DB: f.db, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Index(ctx, []string{f.photos}, nil)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	eng, err := simsearch.Open(ctx, &simsearch.Options{DB: f.db, Model: m, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	var o Options
	if opts != nil {
		o = *opts
	}
	o.MoveTo = f.moveTo
	o.HomeTrash = filepath.Join(root, "trash")
	o.OpenWriter = func(ctx context.Context) (*simsearch.Engine, error) {
		return simsearch.Open(ctx, &simsearch.Options{DB: f.db, Model: m})
	}
	if f.h, err = New(eng, &o); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request and returns the status and body; header adds headers.
func (f *fixture) do(t testing.TB, method, path string, body io.Reader, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b, res.Header
}

// getJSON GETs path, wants 200, and decodes the body into v.
func (f *fixture) getJSON(t *testing.T, path string, v any, header ...string) {
	t.Helper()
	status, b, _ := f.do(t, "GET", path, nil, header...)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// postJSON POSTs v as JSON from the page's own origin and returns the
// status and body.
func (f *fixture) postJSON(t *testing.T, path string, v any, header ...string) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := f.do(t, "POST", path, bytes.NewReader(b), append([]string{"Content-Type", "application/json", "Origin", f.srv.URL}, header...)...)
	return status, body
}

// upload is a multipart body with data in field.
func upload(t testing.TB, field, name string, data []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

type matchJSON struct {
	ID    uint64  `json:"id"`
	Rank  int     `json:"rank"`
	Score float32 `json:"score"`
	Path  string  `json:"path"`
}

type answerJSON struct {
	Query   string      `json:"query"`
	Results []matchJSON `json:"results"`
}

func (f *fixture) itemIDs(t *testing.T) map[string]uint64 {
	t.Helper()
	var page struct {
		Items []matchJSON `json:"items"`
	}
	f.getJSON(t, "/api/v1/items?limit=500", &page)
	ids := map[string]uint64{}
	for _, it := range page.Items {
		ids[it.Path] = it.ID
	}
	return ids
}

func TestAPI_HealthStatsItems(t *testing.T) {
	f := newFixture(t, nil)
	var ok map[string]bool
	f.getJSON(t, "/healthz", &ok)
	if !ok["ok"] {
		t.Errorf("healthz: %v", ok)
	}
	var st struct {
		Items  int    `json:"items"`
		Random bool   `json:"random_weights"`
		Model  string `json:"model"`
	}
	f.getJSON(t, "/api/v1/stats", &st)
	want := len(sampleNames) + 1
	if st.Items != want || !st.Random || st.Model != "vgg16-random" {
		t.Errorf("stats: %+v; want %d items of vgg16-random, labelled random weights", st, want)
	}
	// Pages of 2 cover every item once.
	var paths []string
	next := uint64(0)
	for pages := 0; pages < 10; pages++ {
		var page struct {
			Items []matchJSON `json:"items"`
			Total int         `json:"total"`
			Next  uint64      `json:"next"`
		}
		f.getJSON(t, fmt.Sprintf("/api/v1/items?limit=2&after=%d", next), &page)
		if len(page.Items) > 2 || page.Total != want {
			t.Fatalf("page after %d: %d items of %d", next, len(page.Items), page.Total)
		}
		for _, it := range page.Items {
			paths = append(paths, it.Path)
		}
		if next = page.Next; next == 0 {
			break
		}
	}
	slices.Sort(paths)
	if len(paths) != want || len(slices.Compact(slices.Clone(paths))) != want || !slices.Contains(paths, f.catCopy) {
		t.Fatalf("paged items: %v; want the %d photos once each", paths, want)
	}
	id := f.itemIDs(t)[f.cat]
	var it matchJSON
	f.getJSON(t, fmt.Sprintf("/api/v1/items/%d", id), &it)
	if it.Path != f.cat {
		t.Errorf("item %d: %+v, want %s", id, it, f.cat)
	}
	// The thumbnail is a JPEG within the side, made once.
	for range 2 {
		status, b, hdr := f.do(t, "GET", fmt.Sprintf("/api/v1/items/%d/thumbnail", id), nil)
		if status != http.StatusOK || hdr.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail: %d %s %.100s", status, hdr.Get("Content-Type"), b)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("thumbnail: %v", err)
		}
		if s := img.Bounds().Size(); max(s.X, s.Y) != ThumbnailSide {
			t.Errorf("thumbnail of %s: %v, want a longer side of %d", f.cat, s, ThumbnailSide)
		}
	}
	if n, _ := f.h.thumbs.len(); n != 1 {
		t.Errorf("%d thumbnails cached after two requests for one, want 1", n)
	}
	// The page and its files.
	status, b, hdr := f.do(t, "GET", "/", nil)
	if status != http.StatusOK || !strings.Contains(string(b), "/static/app.js") || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", status, hdr.Get("Content-Type"))
	}
	if status, _, _ := f.do(t, "GET", "/static/app.js", nil); status != http.StatusOK {
		t.Errorf("GET /static/app.js: %d", status)
	}
}

func TestAPI_Query(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.itemIDs(t)
	// A copy of dahlia.jpg under another name, uploaded: the original first.
	data, err := os.ReadFile(filepath.Join(f.photos, "dahlia.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	body, ct := upload(t, "image", "IMG_0001.jpg", data)
	status, b, _ := f.do(t, "POST", "/api/v1/query?k=3", body, "Content-Type", ct, "Origin", f.srv.URL)
	var ans answerJSON
	if status != http.StatusOK || json.Unmarshal(b, &ans) != nil {
		t.Fatalf("upload: %d %s", status, b)
	}
	if len(ans.Results) != 3 || ans.Results[0].Path != filepath.Join(f.photos, "dahlia.jpg") || ans.Results[0].Score < 0.999 || ans.Query != "IMG_0001.jpg" {
		t.Fatalf("upload of a copy of dahlia.jpg: %s; want dahlia.jpg first, score 1", b)
	}
	// By id: the item itself is left out, its exact copy comes first.
	f.getJSON(t, fmt.Sprintf("/api/v1/query?id=%d&k=2", ids[f.cat]), &ans)
	if len(ans.Results) != 2 || ans.Results[0].Path != f.catCopy || slices.ContainsFunc(ans.Results, func(m matchJSON) bool { return m.Path == f.cat }) {
		t.Fatalf("query by cat.jpg's id: %+v; want its copy first and not itself", ans.Results)
	}
	// min_score drops what scores below it.
	f.getJSON(t, fmt.Sprintf("/api/v1/query?id=%d&k=10&min_score=0.99", ids[f.cat]), &ans)
	if len(ans.Results) != 1 || ans.Results[0].Path != f.catCopy {
		t.Errorf("min_score 0.99: %+v; want only the exact copy", ans.Results)
	}
	// A date filter no photo passes (the samples have no capture time).
	f.getJSON(t, fmt.Sprintf("/api/v1/query?id=%d&taken_after=2001-01-01", ids[f.cat]), &ans)
	if len(ans.Results) != 0 {
		t.Errorf("taken_after: %+v; want none", ans.Results)
	}
	// Queries at once share the engine and all find the same.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ct := upload(t, "image", "x.jpg", data)
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/query?k=1", body)
			req.Header.Set("Content-Type", ct)
			res, err := f.srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			var a answerJSON
			if err := json.NewDecoder(res.Body).Decode(&a); err != nil || len(a.Results) != 1 || a.Results[0].Path != filepath.Join(f.photos, "dahlia.jpg") {
				errs <- fmt.Errorf("concurrent upload: %d %+v %v", res.StatusCode, a, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// pngHeader is a PNG's signature and header chunk declaring w×h pixels,
// with no pixel data.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// jpegHeader is a baseline JPEG's start of frame declaring w×h pixels.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8}
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0)
	return append(b, bytes.Repeat([]byte{0}, 64)...)
}

// Every bad request is a 4xx with a JSON error, and the server answers
// the next request as before.
func TestAPI_BadInput(t *testing.T) {
	f := newFixture(t, &Options{MaxUploadBytes: 1 << 20})
	ids := f.itemIDs(t)
	multi := func(field, name string, data []byte) func() (io.Reader, []string) {
		return func() (io.Reader, []string) {
			body, ct := upload(t, field, name, data)
			return body, []string{"Content-Type", ct}
		}
	}
	none := func() (io.Reader, []string) { return nil, nil }
	jsonBody := func(s string) func() (io.Reader, []string) {
		return func() (io.Reader, []string) {
			return strings.NewReader(s), []string{"Content-Type", "application/json", "Origin", f.srv.URL}
		}
	}
	big := bytes.Repeat([]byte{0xff}, 2<<20)
	copy(big, []byte{0xff, 0xd8, 0xff})
	cases := []struct {
		name, method, path string
		body               func() (io.Reader, []string)
		status             int
		says               string
	}{
		{"non-image upload", "POST", "/api/v1/query", multi("image", "notes.txt", []byte("just some text, no photo")), 422, "not an image"},
		{"oversized upload", "POST", "/api/v1/query", multi("image", "big.jpg", big), 413, "over"},
		{"PNG bomb header", "POST", "/api/v1/query", multi("image", "bomb.png", pngHeader(100_000, 100_000)), 413, "too large"},
		{"JPEG bomb header", "POST", "/api/v1/query", multi("image", "bomb.jpg", jpegHeader(65000, 65000)), 413, "too large"},
		{"empty upload", "POST", "/api/v1/query", multi("image", "empty.jpg", nil), 400, "empty"},
		{"upload in another field", "POST", "/api/v1/query", multi("photo", "cat.jpg", []byte("x")), 400, `no field "image"`},
		{"upload not multipart", "POST", "/api/v1/query", jsonBody(`{}`), 415, "multipart"},
		{"unknown item", "GET", "/api/v1/items/999999", none, 404, "not in the database"},
		{"unknown thumbnail", "GET", "/api/v1/items/999999/thumbnail", none, 404, "not in the database"},
		{"unknown query id", "GET", "/api/v1/query?id=999999", none, 404, "not in the database"},
		{"id zero", "GET", "/api/v1/query?id=0", none, 400, "want an item id"},
		{"dot-dot in the path", "GET", "/api/v1/items/..%2F..%2Fetc%2Fpasswd/thumbnail", none, 400, "no .."},
		{"absolute path in the path", "GET", "/api/v1/items/%2Fetc%2Fpasswd/thumbnail", none, 400, "no .., //"},
		{"dot-dot path as id", "GET", "/api/v1/query?id=..%2F..%2Fetc%2Fpasswd", none, 400, "want an item id"},
		{"absolute path as id", "GET", "/api/v1/query?id=%2Fetc%2Fpasswd", none, 400, "want an item id"},
		{"path as after", "GET", "/api/v1/items?after=/etc", none, 400, "want the last item id"},
		{"path as label", "GET", fmt.Sprintf("/api/v1/query?id=%d&label=..%%2Fetc%%2Fpasswd", ids[f.cat]), none, 400, "want a class name"},
		{"absolute label", "GET", fmt.Sprintf("/api/v1/query?id=%d&label=/etc/passwd", ids[f.cat]), none, 400, "want a class name"},
		{"path in keep rules", "GET", "/api/v1/duplicates?keep=path:/etc/*", none, 400, "no paths here"},
		{"dot-dot in keep rules", "GET", "/api/v1/duplicates?keep=path:..", none, 400, "no paths here"},
		{"bad keep rule", "GET", "/api/v1/duplicates?keep=prettiest", none, 400, "keep"},
		{"path as run", "POST", "/api/v1/undo", jsonBody(`{"run": "../../etc"}`), 400, "want a run id"},
		{"dot-dot as run", "POST", "/api/v1/undo", jsonBody(`{"run": ".."}`), 400, "want a run id"},
		{"path as group", "POST", "/api/v1/plan", jsonBody(`{"action": "move", "keepers": {"/etc/passwd": 1}}`), 400, "want an item id"},
		{"path as move destination", "POST", "/api/v1/plan", jsonBody(`{"action": "move", "to": "/tmp"}`), 400, `unknown field "to"`},
		{"unknown action", "POST", "/api/v1/plan", jsonBody(`{"action": "shred"}`), 400, "want move or delete"},
		{"unknown plan", "POST", "/api/v1/apply", jsonBody(`{"plan": "nope"}`), 404, "unknown or already applied"},
		{"unknown decision kind", "POST", "/api/v1/decisions", jsonBody(`{"kind": "maybe", "group": 1}`), 400, "want ignore"},
		{"decision on an unknown group", "POST", "/api/v1/decisions", jsonBody(`{"kind": "ignore", "group": 999999}`), 404, "not among"},
		{"not JSON", "POST", "/api/v1/undo", func() (io.Reader, []string) {
			return strings.NewReader("run="), []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", f.srv.URL}
		}, 415, "want a JSON body"},
		{"broken JSON", "POST", "/api/v1/undo", jsonBody(`{"run":`), 400, "body"},
		{"k out of range", "GET", fmt.Sprintf("/api/v1/query?id=%d&k=0", ids[f.cat]), none, 400, "k \"0\""},
		{"min_score out of range", "GET", fmt.Sprintf("/api/v1/query?id=%d&min_score=2", ids[f.cat]), none, 400, "min_score"},
		{"bad date", "GET", fmt.Sprintf("/api/v1/query?id=%d&taken_after=yesterday", ids[f.cat]), none, 400, "want a date"},
		{"unknown endpoint", "GET", "/api/v1/nothing", none, 404, "no such page"},
		{"wrong method", "DELETE", "/api/v1/items/1", func() (io.Reader, []string) { return nil, []string{"Origin", f.srv.URL} }, 404, "no such page"},
		{"foreign Host without a token", "GET", "/api/v1/stats", func() (io.Reader, []string) {
			return nil, []string{"Host", "photos.example.com"}
		}, 403, "only loopback names"},
		{"cross-origin POST", "POST", "/api/v1/undo", func() (io.Reader, []string) {
			return strings.NewReader(`{}`), []string{"Content-Type", "application/json", "Origin", "http://evil.example"}
		}, 403, "cross-origin"},
		{"cross-site POST without Origin", "POST", "/api/v1/undo", func() (io.Reader, []string) {
			return strings.NewReader(`{}`), []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}
		}, 403, "cross-site"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, hdr := c.body()
			status, b, h := f.do(t, c.method, c.path, body, hdr...)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %q: not a JSON error", status, b)
			}
			if status != c.status || !strings.Contains(e.Error, c.says) || strings.Contains(e.Error, "\n") {
				t.Errorf("%s %s: %d %q; want %d saying %q on one line", c.method, c.path, status, e.Error, c.status, c.says)
			}
			// Still serving.
			var ok map[string]bool
			f.getJSON(t, "/healthz", &ok)
		})
	}
	if _, err := os.Stat(f.moveTo); !os.IsNotExist(err) {
		t.Errorf("bad requests made %s (%v)", f.moveTo, err)
	}
}

// With a token, every request carries it (header or login cookie), and
// POSTs must still come from the page's origin.
func TestAPI_Token(t *testing.T) {
	const token = "0123456789abcdef-secret"
	f := newFixture(t, &Options{Token: token})
	bearer := []string{"Authorization", "Bearer " + token}
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer 0123456789abcdef-wrong"}, 401},
		{"not a bearer", []string{"Authorization", "Basic " + token}, 401},
		{"wrong cookie", []string{"Cookie", tokenCookie + "=nope"}, 401},
		{"right token", bearer, 200},
		{"right token, any Host", append([]string{"Host", "photos.example.com"}, bearer...), 200},
	} {
		for _, path := range []string{"/api/v1/stats", "/healthz", "/"} {
			status, b, _ := f.do(t, "GET", path, nil, c.header...)
			if status != c.status {
				t.Errorf("%s: GET %s: %d %.200s; want %d", c.name, path, status, b, c.status)
			}
		}
	}
	if status, _ := f.postJSON(t, "/api/v1/undo", map[string]string{}); status != 401 {
		t.Errorf("POST without the token: %d, want 401", status)
	}
	status, b, _ := f.do(t, "POST", "/api/v1/undo", strings.NewReader(`{}`), append([]string{"Content-Type", "application/json", "Origin", "http://evil.example"}, bearer...)...)
	if status != 403 {
		t.Errorf("cross-origin POST with the token: %d %s, want 403", status, b)
	}
	// The login URL sets the cookie, which then stands for the token.
	c := f.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(f.srv.URL + "/login?token=wrong-token-of-some-length")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, err = c.Get(f.srv.URL + "/login?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d, cookies %v; want a redirect with an HttpOnly SameSite=Strict cookie", res.StatusCode, cookies)
	}
	status, b, _ = f.do(t, "GET", "/api/v1/stats", nil, "Cookie", cookies[0].Name+"="+cookies[0].Value)
	if status != 200 {
		t.Errorf("GET with the login cookie: %d %s", status, b)
	}
}

type groupsJSON struct {
	Groups []struct {
		ID      uint64      `json:"id"`
		Keeper  matchJSON   `json:"keeper"`
		Members []matchJSON `json:"members"`
	} `json:"groups"`
	Total    int `json:"total"`
	SetAside int `json:"set_aside"`
}

// tree is every file under dir by path, as its SHA-256.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		out[p] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// The duplicates of cat.jpg with another keeper chosen: the dry run
// changes nothing, apply moves exactly the other files of the group,
// undo puts the tree back byte for byte; the server never holds the
// writer lock in between.
func TestAPI_DedupMoveAndUndo(t *testing.T) {
	f := newFixture(t, nil)
	var gs groupsJSON
	f.getJSON(t, "/api/v1/duplicates", &gs)
	var group uint64
	var skip []uint64
	var members []string
	for _, g := range gs.Groups {
		if g.Keeper.Path != f.cat {
			skip = append(skip, g.ID)
			continue
		}
		group = g.ID
		for _, m := range g.Members {
			members = append(members, m.Path)
		}
	}
	if group == 0 || !slices.Contains(members, f.catCopy) {
		t.Fatalf("duplicates: %+v; want a group kept by %s with its copy %s", gs, f.cat, f.catCopy)
	}
	ids := f.itemIDs(t)
	before := tree(t, f.photos)
	req := map[string]any{"action": "move", "keepers": map[string]uint64{fmt.Sprint(group): ids[f.catCopy]}, "skip": skip}
	status, b := f.postJSON(t, "/api/v1/plan", req)
	var plan struct {
		Plan   string `json:"plan"`
		DryRun bool   `json:"dry_run"`
		Steps  []struct {
			Op, Path, Dest, Skip string
		} `json:"steps"`
	}
	if status != 200 || json.Unmarshal(b, &plan) != nil || !plan.DryRun {
		t.Fatalf("plan: %d %s", status, b)
	}
	// The old keeper and the other members move; the chosen keeper stays.
	want := append([]string{f.cat}, slices.DeleteFunc(slices.Clone(members), func(p string) bool { return p == f.catCopy })...)
	var planned []string
	for _, s := range plan.Steps {
		if s.Skip != "" || s.Op != "move" || !strings.HasPrefix(s.Dest, f.moveTo+string(filepath.Separator)) {
			t.Errorf("step %+v: want a move under %s", s, f.moveTo)
		}
		planned = append(planned, s.Path)
	}
	slices.Sort(want)
	slices.Sort(planned)
	if !slices.Equal(planned, want) {
		t.Fatalf("dry run moves %v, want %v", planned, want)
	}
	if got := tree(t, f.photos); !mapsEqual(got, before) || len(tree(t, f.moveTo)) != 0 {
		t.Fatal("the dry run changed files")
	}
	// Between requests another writer gets the lock, within the 2 s a
	// command waits (the server lets go of the file it keeps open when it
	// sees the writer lock taken).
	w, err := simsearch.Open(context.Background(), &simsearch.Options{DB: f.db, Model: testModel(t), LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("open for writing beside the server: %v", err)
	}
	status, b = f.postJSON(t, "/api/v1/apply", map[string]string{"plan": plan.Plan})
	if status != http.StatusConflict || !strings.Contains(string(b), "another simsearch process") {
		t.Errorf("apply while another process writes: %d %s; want 409", status, b)
	}
	w.Close()
	// The plan is still there to try again, now that the lock is free.
	status, b = f.postJSON(t, "/api/v1/apply", map[string]string{"plan": plan.Plan})
	var out struct {
		RunID   string   `json:"run_id"`
		Changed []string `json:"changed"`
	}
	if status != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("apply: %d %s", status, b)
	}
	slices.Sort(out.Changed)
	if !slices.Equal(out.Changed, want) {
		t.Errorf("apply changed %v, want %v", out.Changed, want)
	}
	checkMoved(t, before, f.photos, f.moveTo, want)
	if status, b := f.postJSON(t, "/api/v1/apply", map[string]string{"plan": plan.Plan}); status != 404 {
		t.Errorf("apply of the same plan again: %d %s, want 404", status, b)
	}
	// The moved files are no longer in the database: no group is left.
	f.getJSON(t, "/api/v1/duplicates", &gs)
	for _, g := range gs.Groups {
		if g.Keeper.Path == f.catCopy || g.Keeper.Path == f.cat {
			t.Errorf("after apply a group of cat.jpg is left: %+v", g)
		}
	}
	var runs struct {
		Runs []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"runs"`
	}
	f.getJSON(t, "/api/v1/runs", &runs)
	if len(runs.Runs) != 1 || runs.Runs[0].ID != out.RunID {
		t.Fatalf("runs: %+v, want %s", runs, out.RunID)
	}
	status, b = f.postJSON(t, "/api/v1/undo", map[string]string{"run": out.RunID})
	if status != 200 {
		t.Fatalf("undo: %d %s", status, b)
	}
	if got := tree(t, f.photos); !mapsEqual(got, before) {
		t.Errorf("after undo the photos differ from before:\n%v\n%v", got, before)
	}
	if left := tree(t, f.moveTo); len(left) != 0 {
		t.Errorf("after undo files are left under %s: %v", f.moveTo, left)
	}
	// Undo indexed them again: the group is back as it was found.
	if again := f.itemIDs(t); len(again) != len(ids) {
		t.Errorf("after undo %d items, want %d", len(again), len(ids))
	}
	var back groupsJSON
	f.getJSON(t, "/api/v1/duplicates", &back)
	if !slices.ContainsFunc(back.Groups, func(g struct {
		ID      uint64      `json:"id"`
		Keeper  matchJSON   `json:"keeper"`
		Members []matchJSON `json:"members"`
	}) bool {
		return g.Keeper.Path == f.cat && len(g.Members) == len(members)
	}) {
		t.Errorf("after undo the group of cat.jpg is not back: %+v", back)
	}
	if status, b := f.postJSON(t, "/api/v1/undo", map[string]string{}); status != 404 {
		t.Errorf("undo with nothing to undo: %d %s, want 404", status, b)
	}
}

// "Not duplicates" on a group is a decision: that group is gone from the
// next listing, and the pair counts as set aside.
func TestAPI_Decision(t *testing.T) {
	f := newFixture(t, nil)
	var gs groupsJSON
	f.getJSON(t, "/api/v1/duplicates", &gs)
	var group uint64
	for _, g := range gs.Groups {
		if g.Keeper.Path == f.cat {
			group = g.ID
		}
	}
	if group == 0 {
		t.Fatalf("no group kept by %s: %+v", f.cat, gs)
	}
	status, b := f.postJSON(t, "/api/v1/decisions", map[string]any{"kind": "ignore", "group": group})
	if status != 200 {
		t.Fatalf("decide: %d %s", status, b)
	}
	var ds struct {
		Decisions []struct {
			Kind  string `json:"kind"`
			Files []struct {
				Named string `json:"named"`
			} `json:"files"`
		} `json:"decisions"`
	}
	f.getJSON(t, "/api/v1/decisions", &ds)
	if len(ds.Decisions) != 1 || ds.Decisions[0].Kind != "ignore" || len(ds.Decisions[0].Files) < 2 {
		t.Fatalf("decisions: %+v", ds)
	}
	var after groupsJSON
	f.getJSON(t, "/api/v1/duplicates", &after)
	for _, g := range after.Groups {
		for _, m := range g.Members {
			if (g.Keeper.Path == f.cat || g.Keeper.Path == f.catCopy) && (m.Path == f.cat || m.Path == f.catCopy) {
				t.Errorf("cat.jpg and its copy are grouped again after \"not duplicates\": %+v", g)
			}
		}
	}
	if after.SetAside == 0 {
		t.Errorf("set_aside 0 after a decision")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkMoved checks that of the files before held (tree of photos),
// exactly those in want left photos, each with its content now under
// moveTo, and that nothing else is there.
func checkMoved(t *testing.T, before map[string]string, photos, moveTo string, want []string) {
	t.Helper()
	after, moved := tree(t, photos), mapValues(tree(t, moveTo))
	for p, h := range before {
		_, still := after[p]
		if slices.Contains(want, p) == still {
			t.Errorf("%s: still there %v after apply", p, still)
		}
		if slices.Contains(want, p) && !slices.Contains(moved, h) {
			t.Errorf("%s: its content is not under %s", p, moveTo)
		}
	}
	if len(moved) != len(want) || len(after) != len(before)-len(want) {
		t.Errorf("after apply: %d files moved, %d left; want %d and %d", len(moved), len(after), len(want), len(before)-len(want))
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// BenchmarkAPI_QueryUpload is a query by an uploaded photo over HTTP:
// extraction, search and the request around them.
func BenchmarkAPI_QueryUpload(b *testing.B) {
	f := newFixture(b, nil)
	data, err := os.ReadFile(filepath.Join(f.photos, "dahlia.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		body, ct := upload(b, "image", "dahlia.jpg", data)
		if status, res, _ := f.do(b, "POST", "/api/v1/query?k=10", body, "Content-Type", ct); status != 200 {
			b.Fatalf("%d %s", status, res)
		}
	}
}

// BenchmarkAPI_QueryByID is the same query from a stored photo: no
// extraction, what an upload costs beyond it.
func BenchmarkAPI_QueryByID(b *testing.B) {
	f := newFixture(b, nil)
	var page struct {
		Items []matchJSON `json:"items"`
	}
	status, res, _ := f.do(b, "GET", "/api/v1/items?limit=1", nil)
	if status != 200 || json.Unmarshal(res, &page) != nil || len(page.Items) != 1 {
		b.Fatalf("items: %d %s", status, res)
	}
	path := fmt.Sprintf("/api/v1/query?id=%d&k=10", page.Items[0].ID)
	for b.Loop() {
		if status, res, _ := f.do(b, "GET", path, nil); status != 200 {
			b.Fatalf("%d %s", status, res)
		}
	}
}

// BenchmarkAPI_Thumbnail makes a thumbnail from the file each time (the
// memory cache is emptied, and none is kept on disk), through the safe
// decoder.
func BenchmarkAPI_Thumbnail(b *testing.B) {
	f := newFixture(b, &Options{ThumbnailDisk: -1})
	for b.Loop() {
		f.h.thumbs = newThumbCache(64 << 20)
		if status, res, _ := f.do(b, "GET", "/api/v1/items/1/thumbnail", nil); status != 200 {
			b.Fatalf("%d %.100s", status, res)
		}
	}
}

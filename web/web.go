package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simsearch/simsearch"
)

//go:embed static
var static embed.FS

// Options configure New. The zero value serves read-only on loopback.
type Options struct {
	// Token, when set, must come with every request (see the package
	// documentation); "" means none, and only loopback Host names.
	Token string
	// OpenWriter opens the database with the writer lock, for the length
	// of one decision, apply or undo; the handler closes what it returns.
	// Nil refuses those requests. Give it the read engine's model
	// (simsearch.Options.Model) so that the session is shared.
	OpenWriter func(ctx context.Context) (*simsearch.Engine, error)
	// MoveTo is the folder the dedup move action moves copies into,
	// keeping their path below the folder that holds a group's files; ""
	// means the database's path with ".moved" added. The page cannot
	// choose it: no request names a path.
	MoveTo string
	// HomeTrash is the home trash for the delete action ("" means the
	// freedesktop.org default, see dedup.HomeTrash).
	HomeTrash string
	// MaxUploadBytes caps an uploaded photo; 0 means 64 MiB.
	MaxUploadBytes int64
	// Timeout bounds each request but apply and undo; 0 means 60 s.
	Timeout time.Duration
	// ActTimeout bounds apply and undo, which stop cleanly (journalled)
	// before the next file; 0 means 30 min.
	ActTimeout time.Duration
	// ThumbnailCache is the memory the thumbnails kept for reuse may take;
	// 0 means 64 MiB.
	ThumbnailCache int64
	// ThumbnailDir is the folder thumbnails are kept in across restarts,
	// one file per item named by its id and content hash; "" means the
	// database's path with ".thumbs" added, or for a PostgreSQL database
	// simsearch/thumbs/HOST_PORT_NAME in the user's cache folder
	// (os.UserCacheDir).
	ThumbnailDir string
	// ThumbnailDisk is what the files in ThumbnailDir may take, the oldest
	// removed first; 0 means 1 GiB, below 0 keeps no thumbnail on disk.
	ThumbnailDisk int64
}

// Handler is the API and the page. Its methods are safe for concurrent
// use.
type Handler struct {
	eng    *simsearch.Engine
	opts   Options
	mux    *http.ServeMux
	thumbs *thumbCache
	disk   *diskThumbs // nil: thumbnails in memory only
	// decoded counts the thumbnails made from photos, for tests.
	decoded atomic.Int64
	// uploads bounds how many uploaded photos are held in memory at once.
	uploads chan struct{}

	// wmu serialises the requests that take the writer lock, and guards
	// what they change: the groups found and the plans offered.
	wmu    sync.Mutex
	groups map[groupsKey]*groupSet
	plans  *planStore

	// rmu guards seen, the items version the engine's index was last
	// brought up to.
	rmu  sync.Mutex
	seen uint64
}

var _ http.Handler = (*Handler)(nil)

// New returns the handler for eng, which it reads but does not close.
func New(eng *simsearch.Engine, opts *Options) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("web: no engine")
	}
	h := &Handler{eng: eng, mux: http.NewServeMux(), groups: map[groupsKey]*groupSet{}, plans: newPlanStore(16)}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MoveTo == "" {
		h.opts.MoveTo = eng.Path() + ".moved"
	}
	abs, err := filepath.Abs(h.opts.MoveTo)
	if err != nil {
		return nil, err
	}
	h.opts.MoveTo = abs
	if h.opts.MaxUploadBytes <= 0 {
		h.opts.MaxUploadBytes = 64 << 20
	}
	if h.opts.Timeout <= 0 {
		h.opts.Timeout = 60 * time.Second
	}
	if h.opts.ActTimeout <= 0 {
		h.opts.ActTimeout = 30 * time.Minute
	}
	if h.opts.ThumbnailCache <= 0 {
		h.opts.ThumbnailCache = 64 << 20
	}
	if h.seen, err = eng.ItemsVersion(); err != nil {
		return nil, err
	}
	h.thumbs = newThumbCache(h.opts.ThumbnailCache)
	if h.opts.ThumbnailDisk >= 0 {
		if h.opts.ThumbnailDisk == 0 {
			h.opts.ThumbnailDisk = 1 << 30
		}
		if h.opts.ThumbnailDir == "" {
			if h.opts.ThumbnailDir, err = thumbDir(eng.Path()); err != nil {
				return nil, err
			}
		}
		h.disk = newDiskThumbs(h.opts.ThumbnailDir, h.opts.ThumbnailDisk)
	}
	h.uploads = make(chan struct{}, 4)
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	api := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		h.mux.Handle(pattern, apiHandler(fn))
	}
	api("GET /healthz", h.healthz)
	api("GET /api/v1/stats", h.stats)
	api("GET /api/v1/items", h.items)
	api("GET /api/v1/items/{id}", h.item)
	h.mux.HandleFunc("GET /api/v1/items/{id}/thumbnail", h.thumbnail)
	api("GET /api/v1/query", h.queryByID)
	api("POST /api/v1/query", h.queryByUpload)
	api("GET /api/v1/duplicates", h.duplicates)
	api("POST /api/v1/plan", h.plan)
	api("POST /api/v1/apply", h.apply)
	api("POST /api/v1/undo", h.undo)
	api("GET /api/v1/runs", h.runs)
	api("GET /api/v1/decisions", h.decisions)
	api("POST /api/v1/decisions", h.decide)
	api("DELETE /api/v1/decisions/{id}", h.forget)
	api("GET /login", h.login)
	api("/", func(_ http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "%s %s: no such page or API endpoint", r.Method, r.URL.Path)
	})
	sub, _ := fs.Sub(static, "static") // the directory is embedded above
	files := http.FileServerFS(sub)
	h.mux.Handle("GET /{$}", files)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
}

// ServeHTTP checks the Host, the token and the origin, bounds the
// request's time, and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.admit(r); err != nil {
		writeError(w, err)
		return
	}
	timeout := h.opts.Timeout
	if r.Method == http.MethodPost && (r.URL.Path == "/api/v1/apply" || r.URL.Path == "/api/v1/undo") {
		timeout = h.opts.ActTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// Each call would open the file again; kept open, a writer (an index
	// run, or this server's apply) still gets in: the engine lets go when
	// one takes the writer lock.
	h.eng.KeepOpen()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r.WithContext(ctx))
	// Between requests a writer (an index run) may take the database; a
	// file kept open stays open.
	_ = h.eng.Release() // a read-only file closes without loss
}

// refresh brings the engine's index up to date when the stored items
// changed since (this server's writes, an index run beside it), so that
// queries and duplicates see every photo; it returns the items version.
func (h *Handler) refresh() (uint64, error) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	v, err := h.eng.ItemsVersion()
	if err != nil || v == h.seen {
		return v, err
	}
	if err := h.eng.Refresh(); err != nil {
		return 0, err
	}
	h.seen = v
	return v, nil
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) error {
	st, err := h.eng.Stats()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		simsearch.Stats
		Threshold float32 `json:"threshold"`
		MoveTo    string  `json:"move_to"`
		Writable  bool    `json:"writable"`
	}{st, h.eng.Threshold(), h.opts.MoveTo, h.opts.OpenWriter != nil})
}

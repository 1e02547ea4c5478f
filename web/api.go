package web

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/simsearch/simsearch"
)

// maxPage is the most items or groups one page holds.
const maxPage = 500

// itemID reads the id path parameter: a decimal item id, never a path.
func itemID(r *http.Request) (uint64, error) {
	return parseID("id", r.PathValue("id"))
}

func parseID(name, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, errorf(http.StatusBadRequest, "%s %q: want an item id (a positive number)", name, s)
	}
	return id, nil
}

// intParam reads an integer query parameter between lo and hi; def when
// absent.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, "%s %q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// scoreParam reads a cosine between 0 and 1; 0 when absent.
func scoreParam(r *http.Request, name string) (float32, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 32)
	if err != nil || f < 0 || f > 1 {
		return 0, errorf(http.StatusBadRequest, "%s %q: want a number from 0 to 1", name, s)
	}
	return float32(f), nil
}

// dateParam reads 2024-05-01 (local midnight) or RFC 3339; zero when
// absent.
func dateParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "%s %q: want a date (2024-05-01) or an RFC 3339 time", name, s)
	}
	return t, nil
}

// labelParam reads a class name or WordNet id: letters, digits, spaces
// and a little punctuation, never a path.
func labelParam(r *http.Request) (string, error) {
	s := r.URL.Query().Get("label")
	if len(s) > 200 {
		return "", errorf(http.StatusBadRequest, "label: longer than 200 bytes")
	}
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune(" -_',", c) {
			return "", errorf(http.StatusBadRequest, "label %q: want a class name or WordNet id (letters, digits, spaces, - _ ' ,)", s)
		}
	}
	return s, nil
}

// queryOptions reads k, min_score, label, taken_after and taken_before.
func queryOptions(r *http.Request) (*simsearch.QueryOptions, error) {
	k, err := intParam(r, "k", 20, 1, maxPage)
	if err != nil {
		return nil, err
	}
	o := &simsearch.QueryOptions{K: k}
	if o.MinScore, err = scoreParam(r, "min_score"); err != nil {
		return nil, err
	}
	if o.Label, err = labelParam(r); err != nil {
		return nil, err
	}
	if o.TakenAfter, err = dateParam(r, "taken_after"); err != nil {
		return nil, err
	}
	if o.TakenBefore, err = dateParam(r, "taken_before"); err != nil {
		return nil, err
	}
	if !o.TakenAfter.IsZero() && !o.TakenBefore.IsZero() && !o.TakenAfter.Before(o.TakenBefore) {
		return nil, errorf(http.StatusBadRequest, "taken_after must be before taken_before")
	}
	return o, nil
}

type itemsPage struct {
	Items []simsearch.Item `json:"items"`
	Total int              `json:"total"`
	// Next is the after= of the next page; 0 on the last.
	Next uint64 `json:"next"`
}

func (h *Handler) items(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 60, 1, maxPage)
	if err != nil {
		return err
	}
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, "after %q: want the last item id of the previous page", s)
		}
	}
	// One more than asked says whether there is a next page.
	items, err := h.eng.Items(after, limit+1)
	if err != nil {
		return err
	}
	n, err := h.eng.Len()
	if err != nil {
		return err
	}
	page := itemsPage{Items: items, Total: n}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = items[limit-1].ID
	}
	if page.Items == nil {
		page.Items = []simsearch.Item{}
	}
	return writeJSON(w, http.StatusOK, page)
}

// knownItem is the stored item the id parameter names, or a 404.
func (h *Handler) knownItem(id uint64) (simsearch.Item, error) {
	it, ok, err := h.eng.Item(id)
	if err != nil {
		return it, err
	}
	if !ok {
		return it, errorf(http.StatusNotFound, "item %d: not in the database", id)
	}
	return it, nil
}

func (h *Handler) item(w http.ResponseWriter, r *http.Request) error {
	id, err := itemID(r)
	if err != nil {
		return err
	}
	it, err := h.knownItem(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, it)
}

type queryAnswer struct {
	Query   string            `json:"query"` // "item 12" or the upload's file name
	Self    uint64            `json:"self,omitempty"`
	Results []simsearch.Match `json:"results"`
	Took    float64           `json:"took_ms"`
}

func (h *Handler) queryByID(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	id, err := parseID("id", r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	o, err := queryOptions(r)
	if err != nil {
		return err
	}
	if _, err := h.knownItem(id); err != nil {
		return err
	}
	if _, err := h.refresh(); err != nil {
		return err
	}
	vec, err := h.eng.Vector(id)
	if err != nil {
		return err
	}
	m, err := h.eng.QueryVector(vec, id, o)
	if err != nil {
		return err
	}
	return h.answer(w, queryAnswer{Query: "item " + strconv.FormatUint(id, 10), Self: id, Results: m}, start)
}

func (h *Handler) answer(w http.ResponseWriter, a queryAnswer, start time.Time) error {
	if a.Results == nil {
		a.Results = []simsearch.Match{}
	}
	a.Took = float64(time.Since(start).Microseconds()) / 1000
	return writeJSON(w, http.StatusOK, a)
}

// queryByUpload searches with the photo in the multipart field "image".
// The part is read into memory (never a temporary file), at most
// MaxUploadBytes, and at most a few uploads at once.
func (h *Handler) queryByUpload(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	o, err := queryOptions(r)
	if err != nil {
		return err
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return errorf(http.StatusUnsupportedMediaType, "want a multipart/form-data upload with the photo in the field \"image\"")
	}
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	case <-r.Context().Done():
		return errorf(http.StatusServiceUnavailable, "busy: too many uploads at once")
	}
	// Room for the multipart framing around the photo.
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxUploadBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return errorf(http.StatusBadRequest, "read upload: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "no field \"image\" in the upload")
		}
		if err != nil {
			return uploadError(err)
		}
		if part.FormName() != "image" {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, h.opts.MaxUploadBytes+1))
		part.Close()
		if err != nil {
			return uploadError(err)
		}
		if int64(len(data)) > h.opts.MaxUploadBytes {
			return errorf(http.StatusRequestEntityTooLarge, "upload: over %d bytes", h.opts.MaxUploadBytes)
		}
		if len(data) == 0 {
			return errorf(http.StatusBadRequest, "upload: the field \"image\" is empty")
		}
		name := cleanName(part.FileName())
		if _, err := h.refresh(); err != nil {
			return err
		}
		m, err := h.eng.QueryImage(r.Context(), name, bytes.NewReader(data), o)
		if err != nil {
			return err
		}
		return h.answer(w, queryAnswer{Query: name, Results: m}, start)
	}
}

func uploadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "upload: over %d bytes", tooBig.Limit)
	}
	return errorf(http.StatusBadRequest, "read upload: %v", err)
}

// cleanName is an upload's file name for messages: its last element, in
// printable characters, never used to open anything.
func cleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return '?'
	}, name)
	if len(name) > 100 {
		name = name[:100]
	}
	if name == "" {
		name = "upload"
	}
	return name
}

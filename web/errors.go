package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

// errorf is an error answered with status.
func errorf(status int, format string, a ...any) error {
	return &httpError{status: status, err: fmt.Errorf(format, a...)}
}

// apiHandler answers what fn returns as an error with a JSON body.
type apiHandler func(http.ResponseWriter, *http.Request) error

func (fn apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := fn(w, r); err != nil {
		writeError(w, err)
	}
}

// writeError answers {"error": "..."} with the status the error calls
// for: its own, or one that the engine's sentinels imply, else 500.
func writeError(w http.ResponseWriter, err error) {
	_ = writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
}

func statusOf(err error) int {
	var he *httpError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, simsearch.ErrTooManyPixels):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, simsearch.ErrUnusableImage):
		return http.StatusUnprocessableEntity
	case errors.Is(err, simsearch.ErrLocked):
		return http.StatusConflict
	case errors.Is(err, dedup.ErrNoRun), errors.Is(err, simsearch.ErrNoDecision):
		return http.StatusNotFound
	case errors.Is(err, dedup.ErrPlan), errors.Is(err, simsearch.ErrNotIndexed), errors.Is(err, simsearch.ErrFewFiles),
		errors.Is(err, dedup.ErrPolicy), errors.Is(err, dedup.ErrAction):
		return http.StatusBadRequest
	case errors.Is(err, simsearch.ErrModelNotInstalled):
		return http.StatusServiceUnavailable
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a client that went away cannot be answered
	return nil
}

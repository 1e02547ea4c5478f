package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/simsearch/simsearch/internal/onnx"
	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// ErrChecksum is returned when a downloaded or installed file does not have
// the expected size or SHA-256 digest.
var ErrChecksum = errors.New("checksum mismatch")

// ErrOffline is returned when the model server cannot be reached at all:
// the name does not resolve, the connection is refused or times out.
var ErrOffline = errors.New("model server unreachable")

// StatusError is an HTTP answer other than the file.
type StatusError struct {
	URL    string
	Status string // as the server sent it, e.g. "404 Not Found"
	Code   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("download %s: server answered %s", e.URL, e.Status)
}

// PullOptions adjusts Pull. The zero value (or nil) downloads from the
// catalog URL with http.DefaultClient and reports no progress.
type PullOptions struct {
	Client *http.Client
	URL    string // overrides the entry's URL (mirrors, tests)
	// File installs from a copy of the download on this machine instead
	// (fetched elsewhere): it is checked like a download and only read.
	File     string
	Progress func(done, total int64) // called as bytes arrive; total is the expected size
	Force    bool                    // install again even if the model is installed
}

// Pull installs the catalog entry e into dir and returns its spec. A model
// with a URL is downloaded to dir/<name>.onnx.part, resuming a previous
// partial download with an HTTP Range request; its size and SHA-256 are
// checked (a mismatch deletes the partial file and wraps ErrChecksum);
// then its last max-pool is exposed as the feature output (see
// onnx.ExposeFeatures; in an int8 model, the float tensor after it), its
// classifier output is recorded in Spec.Logits, and the edited model and
// its spec are written. A model without a URL is built locally (see
// BuildRandom). A model already installed is returned as is unless
// opts.Force is set.
//
// With opts.File, the file is checked and installed instead of a
// download; a file that does not match is refused with ErrChecksum and
// nothing is installed. The file itself is never modified or removed.
//
// When the server cannot be reached the error wraps ErrOffline; a complete
// file placed at dir/<name>.onnx.part by hand is then installed without
// the network.
func Pull(ctx context.Context, e Entry, dir string, opts *PullOptions) (Spec, error) {
	if opts == nil {
		opts = &PullOptions{}
	}
	if err := checkName(e.Name); err != nil {
		return Spec{}, err
	}
	if !opts.Force {
		if s, err := Load(dir, e.Name); err == nil {
			return s, nil
		}
	}
	url := e.URL
	if opts.URL != "" {
		url = opts.URL
	}
	if e.URL == "" && (opts.File != "" || opts.URL != "") {
		return Spec{}, fmt.Errorf("pull %s: %w: it is built here, not downloaded", e.Name, ErrSpec)
	}
	if url == "" {
		if !e.Spec.Random {
			return Spec{}, fmt.Errorf("pull %s: %w: no download URL", e.Name, ErrSpec)
		}
		return BuildRandom(dir, e)
	}
	part := filepath.Join(dir, e.Name+".onnx.part")
	src := part
	if opts.File != "" {
		if err := verify(opts.File, e.Size, e.SHA256); err != nil {
			return Spec{}, fmt.Errorf("pull %s from %s: %w", e.Name, opts.File, err)
		}
		src = opts.File
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
		}
		if err := download(ctx, url, part, e, opts); err != nil {
			if errors.Is(err, ErrChecksum) {
				os.Remove(part)
			}
			if errors.Is(err, ErrOffline) {
				return Spec{}, fmt.Errorf("pull %s: %w; without network, download %s on another machine and install it "+
					"with `simsearch model pull %s --from FILE` (or copy it to %s and pull again, "+
					"or install your own ONNX file with `simsearch model register`)", e.Name, err, url, e.Name, part)
			}
			return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
		}
		if err := verify(part, e.Size, e.SHA256); err != nil {
			os.Remove(part)
			return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
		}
	}
	m, err := onnx.ReadModel(src)
	if err != nil {
		return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
	}
	s, err := zooSpec(e, m)
	if err != nil {
		return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
	}
	s, err = install(dir, m, s)
	if err != nil {
		return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
	}
	if src == part {
		if err := os.Remove(part); err != nil {
			return Spec{}, fmt.Errorf("pull %s: %w", e.Name, err)
		}
	}
	return s, nil
}

// zooSpec edits a downloaded model for use (the feature map and the
// classifier become outputs) and returns e's spec completed from it.
func zooSpec(e Entry, m *onnxpb.ModelProto) (Spec, error) {
	f, err := onnx.ExposeFeatures(m)
	if err != nil {
		return Spec{}, err
	}
	s := e.Spec
	if (s.Channels != 0 && f.C != s.Channels) || (s.GridH != 0 && f.H != s.GridH) || (s.GridW != 0 && f.W != s.GridW) {
		return Spec{}, fmt.Errorf("%w: last max-pool %s is %d×%d×%d, want %d×%d×%d",
			onnx.ErrNoFeature, f.Name, f.C, f.H, f.W, s.Channels, s.GridH, s.GridW)
	}
	s.Output, s.Channels, s.GridH, s.GridW = f.Name, f.C, f.H, f.W
	// The file names its input; older exports also list every weight as
	// an input, which GraphInputs leaves out.
	if in := onnx.GraphInputs(m.GetGraph()); len(in) == 1 {
		s.Input = in[0].GetName()
	}
	found, err := onnx.FindLogits(m)
	if err != nil {
		return Spec{}, err
	}
	switch {
	case len(found) == 1 && (s.Classes == 0 || found[0].Classes == s.Classes):
		l, err := onnx.ExposeLogits(m, found[0].Name)
		if err != nil {
			return Spec{}, err
		}
		s.Logits, s.Classes = l.Name, l.Classes
	case len(found) == 1:
		return Spec{}, fmt.Errorf("%w: classifier output %s has %d classes, want %d", ErrSpec, found[0].Name, found[0].Classes, s.Classes)
	default:
		// No classifier (or several candidates): features only.
		s.Logits, s.Classes, s.Labels = "", 0, ""
	}
	return s, nil
}

// download brings part up to e.Size bytes, resuming from what it holds.
func download(ctx context.Context, url, part string, e Entry, opts *PullOptions) error {
	have := int64(0)
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if e.Size > 0 && have > e.Size {
		if err := os.Remove(part); err != nil {
			return err
		}
		have = 0
	}
	if e.Size > 0 && have == e.Size {
		return nil // complete: a finished earlier run, or a file copied by hand
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil && isOffline(err) {
				return fmt.Errorf("%w: %w", ErrOffline, err)
			}
			return fmt.Errorf("download: %w", err)
		}
		flags := os.O_WRONLY | os.O_CREATE
		switch {
		case resp.StatusCode == http.StatusPartialContent && have > 0:
			if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
				resp.Body.Close()
				return fmt.Errorf("download %s: server resumed at %q, asked for byte %d", url, resp.Header.Get("Content-Range"), have)
			}
			flags |= os.O_APPEND
		case resp.StatusCode == http.StatusOK:
			flags |= os.O_TRUNC // the server ignored the Range: start again
			have = 0
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0 && attempt == 0:
			// The partial file is not a prefix of what the server has now.
			resp.Body.Close()
			if err := os.Remove(part); err != nil {
				return err
			}
			have = 0
			continue
		default:
			resp.Body.Close()
			return &StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
		}
		err = appendBody(part, flags, resp.Body, have, e.Size, opts.Progress)
		resp.Body.Close()
		return err
	}
}

// appendBody writes body to the file, reporting progress from have bytes.
func appendBody(path string, flags int, body io.Reader, have, total int64, progress func(done, total int64)) error {
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	buf := make([]byte, 256<<10)
	done := have
	if progress != nil {
		progress(done, total)
	}
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return fmt.Errorf("download: %w", err)
			}
			done += int64(n)
			if progress != nil {
				progress(done, total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("download interrupted at %d of %d bytes (run again to resume): %w", done, total, rerr)
		}
		if total > 0 && done > total {
			f.Close()
			return fmt.Errorf("download: %w: server sent more than %d bytes", ErrChecksum, total)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("download: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	return nil
}

// rangeStart parses the first byte of a "bytes first-last/size" header.
func rangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// verify checks a file's size and SHA-256 digest.
func verify(path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if size > 0 && n != size {
		return fmt.Errorf("verify: %w: got %d bytes, want %d", ErrChecksum, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && got != sum {
		return fmt.Errorf("verify: %w: sha256 %s, want %s", ErrChecksum, got, sum)
	}
	return nil
}

// isOffline tells a network that is not there (no DNS, refused, unreachable,
// timed out) from a server that answered badly.
func isOffline(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ECONNRESET} {
		if errors.Is(err, errno) {
			var opErr *net.OpError
			if errno != syscall.ECONNRESET || errors.As(err, &opErr) && opErr.Op == "dial" {
				return true
			}
		}
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

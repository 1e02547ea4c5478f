package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

type serveRaw struct {
	N            int       `json:"items"`
	Image        photoSize `json:"query_image"`
	ImageBytes   int       `json:"query_image_bytes"`
	UploadMS     []float64 `json:"upload_ms"`      // wall, from this process
	UploadTookMS []float64 `json:"upload_took_ms"` // the server's own took_ms
	ByIDMS       []float64 `json:"by_id_ms"`
	Thumbs       int       `json:"thumbnails"`
	ThumbPS      float64   `json:"thumbnails_per_s"`        // made from the files
	ThumbCachePS float64   `json:"thumbnails_cached_per_s"` // from memory
	ThumbDiskPS  float64   `json:"thumbnails_disk_per_s"`   // from disk, after a restart
	ItemsDeepMS  []float64 `json:"items_deep_ms"`           // a page of 60 after the 99th percentile id
	RSS          int64     `json:"rss_bytes"`
	PeakRSS      int64     `json:"max_rss_bytes"`
}

// serveRow measures `simsearch serve` on the big database with a few real
// photos indexed into a copy of it: warm queries by an uploaded photo over
// HTTP, queries by id, thumbnails per second and the process's memory.
func serveRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "6. simsearch serve: warm queries over HTTP"}
	d, err := b.bigDB(ctx)
	if err != nil {
		return s, err
	}
	_, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	raw := &serveRaw{N: d.N, Image: photoSize{"2MP", 1920, 1080}}
	s.Raw = raw
	uploads, thumbs := 30, 40
	thumbSize := photoSize{"thumbs", 1920, 1080}
	if b.cfg.quick {
		raw.Image, thumbSize = photoSize{"small", 320, 240}, photoSize{"small", 320, 240}
		uploads, thumbs = 4, 4
	}
	img, err := photoDir(b.workDir(), raw.Image, 1, 950_000)
	if err != nil {
		return s, err
	}
	data, err := os.ReadFile(img[0])
	if err != nil {
		return s, err
	}
	raw.ImageBytes = len(data)
	// Real files for the thumbnails, indexed into a copy of the database.
	photos, err := photoDir(filepath.Join(b.tmp, "serve"), thumbSize, thumbs, 960_000)
	if err != nil {
		return s, err
	}
	db := filepath.Join(b.tmp, "serve.db")
	if err := copyFileTo(d.Path, db); err != nil {
		return s, err
	}
	bin, err := filepath.Abs(b.cfg.bin)
	if err != nil {
		return s, err
	}
	base := []string{"--db", db, "--models-dir", dir, "--model", "vgg16-random"}
	b.logf("indexing %d photos into a copy of the %d-item database", thumbs, d.N)
	if _, err := runTimed(ctx, bin, append(base, "index", "--quiet", filepath.Dir(photos[0]))...); err != nil {
		return s, err
	}
	cmd, url, err := startServe(ctx, bin, base)
	if err != nil {
		return s, err
	}
	defer func() { stopServe(cmd) }()
	b.logf("serve at %s: %d uploads of %s", url, uploads, mib(float64(len(data))))
	var took struct {
		Took    float64 `json:"took_ms"`
		Results []struct {
			ID uint64 `json:"id"`
		} `json:"results"`
	}
	for i := range uploads + 2 { // two to warm up
		t := time.Now()
		if err := postUpload(ctx, url+"api/v1/query?k=10", data, &took); err != nil {
			return s, err
		}
		if i >= 2 {
			raw.UploadMS = append(raw.UploadMS, msSince(t))
			raw.UploadTookMS = append(raw.UploadTookMS, took.Took)
		}
	}
	if len(took.Results) == 0 {
		return s, fmt.Errorf("query by upload found nothing")
	}
	for range uploads {
		t := time.Now()
		if err := getJSON(ctx, fmt.Sprintf("%sapi/v1/query?id=%d&k=10", url, took.Results[0].ID), &took); err != nil {
			return s, err
		}
		raw.ByIDMS = append(raw.ByIDMS, msSince(t))
	}
	var page struct {
		Items []struct {
			ID   uint64 `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	if err := getJSON(ctx, fmt.Sprintf("%sapi/v1/items?after=%d&limit=500", url, d.N), &page); err != nil {
		return s, err
	}
	var ids []uint64
	for _, it := range page.Items {
		if strings.HasPrefix(it.Path, filepath.Dir(photos[0])) {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) != thumbs {
		return s, fmt.Errorf("%d of the %d indexed photos listed after item %d", len(ids), thumbs, d.N)
	}
	for range uploads {
		t := time.Now()
		if err := getJSON(ctx, fmt.Sprintf("%sapi/v1/items?after=%d&limit=60", url, d.N*99/100), &page); err != nil {
			return s, err
		}
		raw.ItemsDeepMS = append(raw.ItemsDeepMS, msSince(t))
	}
	raw.Thumbs = len(ids)
	thumbPass := func(url string) (float64, error) {
		t := time.Now()
		for _, id := range ids {
			if err := getBody(ctx, fmt.Sprintf("%sapi/v1/items/%d/thumbnail", url, id)); err != nil {
				return 0, err
			}
		}
		return float64(len(ids)) / time.Since(t).Seconds(), nil
	}
	if raw.ThumbPS, err = thumbPass(url); err != nil {
		return s, err
	}
	if raw.ThumbCachePS, err = thumbPass(url); err != nil {
		return s, err
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		raw.PeakRSS = parseVmHWM(string(st))
		raw.RSS = parseStatusKB(string(st), "VmRSS:")
	}
	// A restart: the thumbnails come from the folder beside the database.
	stopServe(cmd)
	if cmd, url, err = startServe(ctx, bin, base); err != nil {
		return s, err
	}
	if raw.ThumbDiskPS, err = thumbPass(url); err != nil {
		return s, err
	}
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("`simsearch serve` on the %s-item database plus %d generated photos of %d×%d, vgg16-random fp32, default threads; each figure from this process over loopback, one request at a time, after two warm-up uploads. The upload is a %d×%d JPEG of %s.",
			num(float64(d.N)), thumbs, thumbSize.W, thumbSize.H, raw.Image.W, raw.Image.H, mib(float64(len(data)))),
		Header: []string{"request", "p50", "p95", "server's took_ms p50"},
		Rows: [][]string{
			{fmt.Sprintf("POST /api/v1/query (upload, k=10), %d", uploads), ms(pct(raw.UploadMS, 50)), ms(pct(raw.UploadMS, 95)), ms(pct(raw.UploadTookMS, 50))},
			{fmt.Sprintf("GET /api/v1/query?id= (k=10), %d", uploads), ms(pct(raw.ByIDMS, 50)), ms(pct(raw.ByIDMS, 95)), ""},
			{fmt.Sprintf("GET /api/v1/items?after=%d (60 items), %d", d.N*99/100, uploads), ms(pct(raw.ItemsDeepMS, 50)), ms(pct(raw.ItemsDeepMS, 95)), ""},
		},
	}, Table{
		Caption: "Thumbnails (320 px JPEG through the safe decoder) fetched one after another, then again from the in-memory cache, then by a restarted server from the folder beside the database; memory of the first serving process at the end.",
		Header:  []string{"thumbnails/s made", "thumbnails/s cached", "thumbnails/s from disk", "RSS", "peak RSS"},
		Rows:    [][]string{{rate(raw.ThumbPS), rate(raw.ThumbCachePS), rate(raw.ThumbDiskPS), mib(float64(raw.RSS)), mib(float64(raw.PeakRSS))}},
	})
	return s, nil
}

// startServe starts `simsearch serve` on a free loopback port and returns
// it with the URL it printed.
func startServe(ctx context.Context, bin string, base []string) (*exec.Cmd, string, error) {
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(base), "serve", "--addr", "127.0.0.1:0")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stopServe(cmd)
		return nil, "", fmt.Errorf("serve printed %q: %w: %s", line, err, stderr.Bytes())
	}
	m := regexp.MustCompile(` at (http://\S+/)`).FindStringSubmatch(line)
	if m == nil {
		stopServe(cmd)
		return nil, "", fmt.Errorf("serve printed %q, no URL", line)
	}
	return cmd, m[1], nil
}

// stopServe ends a server startServe started, as Ctrl-C would.
func stopServe(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// pct is the p-th percentile of v (nearest rank).
func pct(v []float64, p int) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func parseStatusKB(status, key string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			var kb int64
			if _, err := fmt.Sscan(rest, &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func copyFileTo(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func postUpload(ctx context.Context, url string, data []byte, v any) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("image", "upload.jpg")
	if err != nil {
		return err
	}
	w.Write(data)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, "POST", url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return doJSON(req, v)
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	return doJSON(req, v)
}

func doJSON(req *http.Request, v any) error {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL, res.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

func getBody(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	return nil
}

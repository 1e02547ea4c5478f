package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

type e2eRaw struct {
	Photos    int       `json:"photos"`
	Size      photoSize `json:"size"`
	MeanBytes float64   `json:"mean_file_bytes"`
	FirstMS   float64   `json:"first_ms"`
	ImagesPS  float64   `json:"images_per_s"`
	FirstRSS  int64     `json:"first_max_rss_bytes"`
	FirstOut  string    `json:"first_output"`
	AgainMS   float64   `json:"again_ms"`
	AgainRSS  int64     `json:"again_max_rss_bytes"`
	AgainOut  string    `json:"again_output"`
}

func e2eRow(ctx context.Context, b *bench) (Section, error) {
	s := Section{Title: "5. End to end: simsearch index"}
	raw := &e2eRaw{Photos: b.sz.e2eN, Size: photoSize{"e2e", b.sz.e2eW, b.sz.e2eH}}
	s.Raw = raw
	_, dir, err := b.model(ctx)
	if err != nil {
		return s, err
	}
	b.logf("generating %d photo-like JPEGs of %dx%d", raw.Photos, raw.Size.W, raw.Size.H)
	paths, err := photoDir(b.workDir(), raw.Size, raw.Photos, 10_000)
	if err != nil {
		return s, err
	}
	raw.MeanBytes = meanFileSize(paths)
	photos := filepath.Dir(paths[0])
	// Only these files: a cached directory may hold more from another run.
	if ents, err := os.ReadDir(photos); err == nil && len(ents) != len(paths) {
		photos = filepath.Join(b.tmp, "e2e-photos")
		if err := os.MkdirAll(photos, 0o755); err != nil {
			return s, err
		}
		for _, p := range paths {
			if err := os.Symlink(p, filepath.Join(photos, filepath.Base(p))); err != nil {
				return s, err
			}
		}
	}
	bin, err := filepath.Abs(b.cfg.bin)
	if err != nil {
		return s, err
	}
	db := filepath.Join(b.tmp, "e2e.db")
	os.Remove(db)
	args := []string{"--db", db, "--models-dir", dir, "index", photos}
	b.logf("running simsearch index on %d photos", raw.Photos)
	r, err := runTimed(ctx, bin, args...)
	if err != nil {
		return s, err
	}
	raw.FirstMS, raw.FirstRSS, raw.FirstOut = r.ms, r.maxRSS, lastLine(r.stderr)
	raw.ImagesPS = float64(raw.Photos) / (r.ms / 1000)
	r, err = runTimed(ctx, bin, args...)
	if err != nil {
		return s, err
	}
	raw.AgainMS, raw.AgainRSS, raw.AgainOut = r.ms, r.maxRSS, lastLine(r.stderr)
	if !strings.Contains(raw.AgainOut, ": 0 added,") {
		return s, fmt.Errorf("second run changed something: %s", raw.AgainOut)
	}
	s.Tables = append(s.Tables, Table{
		Caption: fmt.Sprintf("`simsearch --db DB index DIR` as a child process on %s generated photo-like JPEGs of %d×%d (%.1f MP, %s each, quality 90), fresh database, default threads and batch.", num(float64(raw.Photos)), raw.Size.W, raw.Size.H, raw.Size.MP(), mib(raw.MeanBytes)),
		Header:  []string{"run", "wall", "images/s", "peak RSS", "summary line"},
		Rows: [][]string{
			{"first", seconds(raw.FirstMS / 1000), rate(raw.ImagesPS), mib(float64(raw.FirstRSS)), raw.FirstOut},
			{"again, nothing changed", seconds(raw.AgainMS / 1000), "", mib(float64(raw.AgainRSS)), raw.AgainOut},
		},
	})
	return s, nil
}

func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(lines[len(lines)-1])
}

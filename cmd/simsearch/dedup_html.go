package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

// writeHTMLReport writes dedup's HTML report to out and its thumbnails
// and further pages to the folder beside it, with bar showing how far
// the thumbnails are; SIGINT stops it between photos and leaves an
// earlier report at out as it was.
func (e *env) writeHTMLReport(ctx context.Context, out string, groups []dedup.Group, bar *progress) error {
	err := dedup.WriteHTMLFile(ctx, out, groups, &dedup.HTMLOptions{
		Decode:   simsearch.DecodeThumbnail,
		Progress: func(done, total int) { bar.set(int64(done), int64(total)) },
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("report %s: %w", out, err)
	}
	fmt.Fprintf(e.stderr, "report: %s (thumbnails in %s%c)\n", out, dedup.FilesDir(out), filepath.Separator)
	return nil
}

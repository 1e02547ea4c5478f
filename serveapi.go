package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/simsearch/simsearch/internal/extractor"
)

// What a server (package web) needs beyond the CLI's calls: an item by id,
// a page of items, and a query by image bytes rather than by a file.

// Sentinels of an image that cannot be used, for errors.Is on what
// QueryImage returns.
var (
	// ErrUnusableImage wraps every reason an uploaded image cannot be
	// embedded (the ones below among them), as opposed to a failure of
	// the model or the database.
	ErrUnusableImage = errors.New("unusable image")
	// ErrTooManyPixels means the image declares more pixels than the
	// limit indexing uses, found from its header before any pixel memory
	// is allocated.
	ErrTooManyPixels = extractor.ErrTooLarge
	// ErrNotImage means the data matches no known image signature.
	ErrNotImage = extractor.ErrNotImage
)

// Release closes the database file until the next call needs it, so that
// a writer (an index run, or an engine this process opens for writing)
// can take it between a server's requests: not every call lets go of the
// file on its own (Stats, FindDuplicates and dry runs keep it open for the
// next). Calls in progress finish first.
func (e *Engine) Release() error { return e.db.Release() }

// KeepOpen keeps a read-only engine's database file open between calls,
// which otherwise each open it again, until a writer (an index run, or an
// engine opened for writing) takes the database's writer lock: then the
// file is let go within 100 ms and closes between calls, as before, so
// the writer gets in. It reports whether the file is kept open; call it
// before each request of a long-lived reader, which keeps the file open
// again once the writer has gone. A server database (PostgreSQL) has no
// file to keep, nor a read-write engine: false.
func (e *Engine) KeepOpen() bool {
	k, ok := e.db.(interface{ KeepOpen() bool })
	return ok && k.KeepOpen()
}

// ItemsVersion counts the committed changes to the stored items, by any
// process: when it moves, Refresh brings a long-lived engine's index up
// to date.
func (e *Engine) ItemsVersion() (uint64, error) {
	defer e.release()
	m, err := e.db.Meta()
	return m.ItemsVersion, err
}

// Refresh brings the engine's index in line with the stored vectors after
// another engine or process changed them (a server's own writes, an index
// run beside it): the vectors it lacks are added, changed ones replaced,
// removed ones deleted. It reads every stored vector, so call it when
// ItemsVersion has moved; searches may run meanwhile.
func (e *Engine) Refresh() error {
	defer e.release()
	if err := e.needIndex(); err != nil {
		return err
	}
	_, err := e.catchUp()
	return err
}

// Item returns the stored photo with id, and whether there is one.
func (e *Engine) Item(id uint64) (Item, bool, error) {
	defer e.release()
	return e.db.Item(id)
}

// Len is the number of stored photos.
func (e *Engine) Len() (int, error) {
	defer e.release()
	return e.db.Len()
}

// Items returns up to limit stored photos with ids above after, in id
// order: pass the last id of one page to get the next. The database seeks
// to after, so a page deep in a large collection costs what the first
// does. A limit below 1 returns none.
func (e *Engine) Items(after uint64, limit int) ([]Item, error) {
	if limit < 1 {
		return nil, nil
	}
	defer e.release()
	page, err := e.db.ItemsAfter(after, limit)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	return page, nil
}

// QueryImage returns the stored photos most similar to the image read from
// r (name labels it in errors): it is decoded with the limits indexing
// uses (extractor.DefaultMaxBytes, the default pixel limit) and embedded.
// An image that cannot be used is an error wrapping ErrUnusableImage and
// the reason (ErrTooManyPixels, ErrNotImage, ...).
func (e *Engine) QueryImage(ctx context.Context, name string, r io.Reader, opts *QueryOptions) ([]Match, error) {
	var o QueryOptions
	if opts != nil {
		o = *opts
	}
	if o.K <= 0 {
		o.K = 10
	}
	m, err := e.embedder()
	if err != nil {
		return nil, err
	}
	emb, err := m.EmbedReader(ctx, name, r)
	if err != nil {
		return nil, err
	}
	if emb.Err != nil {
		return nil, fmt.Errorf("query %s: %w: %w", name, ErrUnusableImage, emb.Err)
	}
	return e.QueryVector(emb.Vector, 0, &o)
}

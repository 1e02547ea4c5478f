package web

import (
	"bytes"
	"container/list"
	"image"
	"image/jpeg"
	"net/http"
	"runtime"
	"strconv"
	"sync"

	"github.com/simsearch/simsearch"
)

// ThumbnailSide is the longer side of a thumbnail, in pixels.
const ThumbnailSide = 320

// thumbnail answers the item's thumbnail as a JPEG, decoded from the file
// the database records through the same guards as indexing
// (simsearch.DecodeThumbnail: regular files only, size and pixel limits)
// and kept for the next request in memory and on disk (Options.ThumbnailDir),
// where the next server on the database finds it.
func (h *Handler) thumbnail(w http.ResponseWriter, r *http.Request) {
	if err := h.serveThumbnail(w, r); err != nil {
		writeError(w, err)
	}
}

func (h *Handler) serveThumbnail(w http.ResponseWriter, r *http.Request) error {
	id, err := itemID(r)
	if err != nil {
		return err
	}
	it, err := h.knownItem(id)
	if err != nil {
		return err
	}
	// The content hash is in the key: a photo indexed again after an
	// edit gets a new thumbnail.
	key := thumbKey{id: it.ID, hash: it.Hash}
	b, ok := h.thumbs.get(key)
	if !ok && h.disk != nil {
		if b, ok = h.disk.get(it); ok {
			h.thumbs.put(key, b)
		}
	}
	if !ok {
		select {
		case h.thumbs.decoders <- struct{}{}:
		case <-r.Context().Done():
			return errorf(http.StatusServiceUnavailable, "busy: thumbnail of item %d not made in time", id)
		}
		b, err = h.makeThumbnail(it)
		<-h.thumbs.decoders
		if err != nil {
			return errorf(http.StatusUnprocessableEntity, "thumbnail of item %d: %v", id, err)
		}
		h.thumbs.put(key, b)
		if h.disk != nil {
			_ = h.disk.put(it, b) // a folder that cannot be written leaves the memory cache
		}
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
	return nil
}

func (h *Handler) makeThumbnail(it simsearch.Item) ([]byte, error) {
	h.decoded.Add(1)
	img, err := simsearch.DecodeThumbnail(it.Path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, shrink(img, ThumbnailSide), &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shrink scales img down so that its longer side is at most side, by
// averaging the source pixels each output pixel covers; a smaller image
// is returned as it is.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, hgt := b.Dx(), b.Dy()
	if w <= side && hgt <= side {
		return img
	}
	nw, nh := side, hgt*side/w
	if hgt > w {
		nw, nh = w*side/hgt, side
	}
	nw, nh = max(nw, 1), max(nh, 1)
	src, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		src = image.NewRGBA(image.Rect(0, 0, w, hgt))
		for y := 0; y < hgt; y++ {
			for x := 0; x < w; x++ {
				src.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for oy := 0; oy < nh; oy++ {
		y0, y1 := oy*hgt/nh, max((oy+1)*hgt/nh, oy*hgt/nh+1)
		for ox := 0; ox < nw; ox++ {
			x0, x1 := ox*w/nw, max((ox+1)*w/nw, ox*w/nw+1)
			var sum [3]int
			for y := y0; y < y1; y++ {
				row := src.Pix[y*src.Stride:]
				for x := x0; x < x1; x++ {
					p := row[4*x:]
					sum[0] += int(p[0])
					sum[1] += int(p[1])
					sum[2] += int(p[2])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			o := out.Pix[oy*out.Stride+4*ox:]
			o[0], o[1], o[2], o[3] = uint8(sum[0]/n), uint8(sum[1]/n), uint8(sum[2]/n), 255
		}
	}
	return out
}

type thumbKey struct {
	id   uint64
	hash simsearch.Hash
}

type thumbEntry struct {
	key thumbKey
	b   []byte
}

// thumbCache keeps the most recently used thumbnails within a byte
// budget, and bounds how many are decoded at once.
type thumbCache struct {
	decoders chan struct{}

	mu    sync.Mutex
	limit int64
	used  int64
	order *list.List // front: most recent
	byKey map[thumbKey]*list.Element
}

func newThumbCache(limit int64) *thumbCache {
	return &thumbCache{
		decoders: make(chan struct{}, runtime.NumCPU()),
		limit:    limit, order: list.New(), byKey: map[thumbKey]*list.Element{},
	}
}

func (c *thumbCache) get(k thumbKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*thumbEntry).b, true
}

func (c *thumbCache) put(k thumbKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok || int64(len(b)) > c.limit {
		return
	}
	c.byKey[k] = c.order.PushFront(&thumbEntry{key: k, b: b})
	c.used += int64(len(b))
	for c.used > c.limit {
		e := c.order.Back()
		te := e.Value.(*thumbEntry)
		c.order.Remove(e)
		delete(c.byKey, te.key)
		c.used -= int64(len(te.b))
	}
}

// len is the number of thumbnails kept and their bytes.
func (c *thumbCache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.used
}

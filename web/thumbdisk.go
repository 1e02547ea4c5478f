package web

import (
	"bytes"
	"cmp"
	"container/list"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/atomicfile"
)

// thumbDir is where the thumbnails of the database db are kept on disk:
// beside a database file (photos.db.thumbs/), and for a server database
// under the user's cache folder (simsearch/thumbs/HOST_PORT_NAME), since
// there is no file to put them beside.
func thumbDir(db string) (string, error) {
	if !simsearch.IsServerDatabase(db) {
		return db + ".thumbs", nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("thumbnails of %s: %w", simsearch.DisplayDatabase(db), err)
	}
	u, err := url.Parse(db)
	if err != nil {
		return "", fmt.Errorf("thumbnails of %s: %w", simsearch.DisplayDatabase(db), err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			return c
		}
		return '_'
	}, u.Hostname()+"_"+port+"_"+strings.TrimPrefix(u.Path, "/"))
	return filepath.Join(cache, "simsearch", "thumbs", name), nil
}

// thumbFile is a thumbnail's file name: the item id and the first half of
// its content hash, so that a photo indexed again after an edit gets a new
// file and never the old picture.
func thumbFile(it simsearch.Item) string {
	return strconv.FormatUint(it.ID, 10) + "-" + hex.EncodeToString(it.Hash[:16]) + ".jpg"
}

// parseThumbFile is the item id of a name thumbFile made.
func parseThumbFile(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ".jpg")
	idPart, hash, ok2 := strings.Cut(base, "-")
	if !ok || !ok2 || len(hash) != 32 {
		return 0, false
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return 0, false
	}
	id, err := strconv.ParseUint(idPart, 10, 64)
	return id, err == nil && id != 0
}

type diskEntry struct {
	id   uint64
	name string
	size int64
}

// diskThumbs keeps thumbnails as files in one folder within a byte
// budget, dropping the oldest written first. What the folder holds is
// read once, when the first thumbnail is asked for; afterwards this
// process keeps the account (another server on the same folder at once
// only makes the budget approximate). A file that cannot be read or
// written is a miss: the thumbnail is made again.
type diskThumbs struct {
	dir   string
	limit int64

	mu      sync.Mutex
	scanned bool
	used    int64
	order   *list.List               // of *diskEntry; front: newest
	byID    map[uint64]*list.Element // one file per item
}

func newDiskThumbs(dir string, limit int64) *diskThumbs {
	return &diskThumbs{dir: dir, limit: limit, order: list.New(), byID: map[uint64]*list.Element{}}
}

// scan reads the folder's thumbnails, oldest first, and removes what an
// interrupted write left; c.mu is held.
func (c *diskThumbs) scan() {
	if c.scanned {
		return
	}
	c.scanned = true
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return // none yet
	}
	type found struct {
		diskEntry
		mod int64
	}
	var all []found
	for _, de := range des {
		name := de.Name()
		if atomicfile.TempPattern.MatchString(name) {
			_ = os.Remove(filepath.Join(c.dir, name))
			continue
		}
		id, ok := parseThumbFile(name)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		all = append(all, found{diskEntry{id: id, name: name, size: fi.Size()}, fi.ModTime().UnixNano()})
	}
	// Oldest first, so that each goes to the back as the next is pushed
	// to the front.
	slices.SortFunc(all, func(a, b found) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range all {
		if old, ok := c.byID[f.id]; ok { // an older picture of the same item
			c.drop(old)
		}
		e := f.diskEntry
		c.byID[e.id] = c.order.PushFront(&e)
		c.used += e.size
	}
	c.evict()
}

// get reads it's thumbnail from disk, if there is one for its content.
func (c *diskThumbs) get(it simsearch.Item) ([]byte, bool) {
	name := thumbFile(it)
	c.mu.Lock()
	c.scan()
	e, ok := c.byID[it.ID]
	ok = ok && e.Value.(*diskEntry).name == name
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := readSmall(filepath.Join(c.dir, name), 4*maxThumbBytes)
	if err != nil || !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		// Gone, or left empty by a crash: make it again.
		c.mu.Lock()
		if e, ok := c.byID[it.ID]; ok && e.Value.(*diskEntry).name == name {
			c.drop(e)
		}
		c.mu.Unlock()
		return nil, false
	}
	return b, true
}

// maxThumbBytes is more than a 320-pixel JPEG at quality 80 takes.
const maxThumbBytes = 256 << 10

func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = errors.New("too large for a thumbnail")
	}
	return b, err
}

// put writes it's thumbnail b, replacing the item's older one, and drops
// the oldest files past the budget. It reports why it could not write.
func (c *diskThumbs) put(it simsearch.Item, b []byte) error {
	if int64(len(b)) > c.limit {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("thumbnails: %w", err)
	}
	name := thumbFile(it)
	if err := atomicfile.WriteUnsynced(filepath.Join(c.dir, name), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return fmt.Errorf("thumbnails: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scan()
	if old, ok := c.byID[it.ID]; ok {
		if old.Value.(*diskEntry).name == name {
			c.used -= old.Value.(*diskEntry).size
			c.order.Remove(old)
			delete(c.byID, it.ID)
		} else {
			c.drop(old)
		}
	}
	c.byID[it.ID] = c.order.PushFront(&diskEntry{id: it.ID, name: name, size: int64(len(b))})
	c.used += int64(len(b))
	c.evict()
	return nil
}

// drop removes an entry and its file; c.mu is held.
func (c *diskThumbs) drop(e *list.Element) {
	de := e.Value.(*diskEntry)
	c.order.Remove(e)
	delete(c.byID, de.id)
	c.used -= de.size
	_ = os.Remove(filepath.Join(c.dir, de.name)) // one left behind is counted by the next scan
}

// evict drops the oldest files until the budget holds; c.mu is held.
func (c *diskThumbs) evict() {
	for c.used > c.limit && c.order.Len() > 0 {
		c.drop(c.order.Back())
	}
}

// usage is the number of thumbnail files and their bytes, as accounted.
func (c *diskThumbs) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scan()
	return c.order.Len(), c.used
}

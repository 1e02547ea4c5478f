package simsearch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/simsearch/simsearch/internal/extractor"
)

// imageExts are the names users give image files. A file with one of these
// extensions that does not hold an image is reported; other files that do
// not hold an image are ignored silently (sidecars, videos, documents).
var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".jpe": true, ".jfif": true, ".png": true, ".gif": true,
	".bmp": true, ".dib": true, ".tif": true, ".tiff": true, ".webp": true,
	".heic": true, ".heif": true, ".avif": true, ".jxl": true, ".cr3": true, ".raf": true,
}

func looksLikeImageName(path string) bool {
	return imageExts[strings.ToLower(filepath.Ext(path))] || extractor.RawExtension(path)
}

// walkFile is one regular file found under a root.
type walkFile struct {
	Path    string // absolute, cleaned
	Size    int64
	ModTime int64 // unix nanoseconds
}

// walkOptions configure walk.
type walkOptions struct {
	Hidden bool            // descend into dot-directories and take dot-files
	Skip   map[string]bool // absolute paths never taken (the database, the model cache)
	// Exclude skips the files and folders its globs match.
	Exclude *excluder
	// MinSize leaves out regular files smaller than this many bytes.
	MinSize int64
	// OneFileSystem does not descend into folders on another file system
	// (mount points) than their root's.
	OneFileSystem bool
	// Missing says the roots are a list of files: one that does not
	// exist passes silently (it is pruned rather than an error), and
	// Exclude holds for the names in a listed path too (roots given
	// one by one are taken as named).
	Missing bool
}

// otherDevice reports whether the folder d is on another file system than
// dev: a mount point.
func otherDevice(d fs.DirEntry, dev uint64) bool {
	info, err := d.Info()
	if err != nil {
		return false
	}
	got, ok := deviceOf(info)
	return ok && got != dev
}

// walk lists the regular files under roots in lexical order. Directory
// symlinks are not followed, so loops cannot happen; file symlinks are
// followed to their target's size and time. FIFOs, devices and sockets are
// never opened. Problems (unreadable directories, dangling links) are
// returned in failed, keyed by path, and the walk goes on.
func walk(ctx context.Context, roots []string, opts walkOptions) (files []walkFile, failed map[string]string, err error) {
	failed = make(map[string]string)
	seen := make(map[string]bool)
	add := func(path string, info fs.FileInfo) {
		if seen[path] || info.Size() < opts.MinSize {
			return
		}
		seen[path] = true
		files = append(files, walkFile{Path: path, Size: info.Size(), ModTime: info.ModTime().UnixNano()})
	}
	for _, root := range roots {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, nil, fmt.Errorf("resolve %s: %w", root, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			if opts.Missing && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, fmt.Errorf("walk %s: %w", root, err)
		}
		if opts.Missing && opts.Exclude.matchListed(abs) {
			continue // a listed file or folder in an excluded place
		}
		if !st.IsDir() {
			if st.Mode().IsRegular() {
				add(abs, st)
			} else {
				failed[abs] = "not a regular file"
			}
			continue
		}
		rootDev, haveDev := deviceOf(st)
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				failed[path] = "cannot read: " + extractor.PlainErr(err).Error()
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if opts.Skip[path] {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if path != abs && !opts.Hidden && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if path != abs && opts.Exclude != nil {
				if rel, err := filepath.Rel(abs, path); err == nil && opts.Exclude.match(rel) {
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
			}
			switch t := d.Type(); {
			case t.IsDir():
				if path != abs && opts.OneFileSystem && haveDev && otherDevice(d, rootDev) {
					return fs.SkipDir // a mount point
				}
				return nil
			case t.IsRegular():
				info, err := d.Info()
				if err != nil { // vanished since the directory was read
					return nil
				}
				add(path, info)
			case t&fs.ModeSymlink != 0:
				info, err := os.Stat(path)
				switch {
				case err != nil:
					if looksLikeImageName(path) {
						failed[path] = "dangling symlink"
					}
				case info.Mode().IsRegular():
					add(path, info)
				case !info.IsDir() && looksLikeImageName(path):
					failed[path] = "not a regular file (link to a " + extractor.FileKind(info.Mode()) + ")"
				}
				// Links to directories are not followed: no loops.
			default:
				if looksLikeImageName(path) {
					failed[path] = "not a regular file (" + extractor.FileKind(t) + ")"
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, failed, nil
}

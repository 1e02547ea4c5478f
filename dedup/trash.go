package dedup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Delete puts files into the freedesktop.org trash (the Trash
// specification 1.0) of the file system that holds them, so that they
// free space once the trash is emptied, and so that a desktop file
// manager lists them and can restore them too:
//
//   - a file on the same file system as the home trash goes to
//     $XDG_DATA_HOME/Trash (~/.local/share/Trash by default);
//   - any other file goes to $topdir/.Trash/$uid when the administrator
//     made $topdir/.Trash (a sticky folder, not a link), else to
//     $topdir/.Trash-$uid, where $topdir is the mount point of its file
//     system (found by walking up while the device stays the same).
//
// Each trashed file is files/NAME with info/NAME.trashinfo beside it
// ([Trash Info], Path= percent-encoded, absolute for the home trash and
// relative to $topdir otherwise, DeletionDate= local time); a NAME that is
// taken gets a number before its extension (cat.2.jpg). A file is never
// copied into a trash: when no trash can be made on its file system it is
// skipped with the reason.

// HomeTrash returns the home trash folder, $XDG_DATA_HOME/Trash or
// $HOME/.local/share/Trash, with getenv reading the environment (nil
// means os.Getenv). It returns "" when neither variable is set.
func HomeTrash(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "Trash")
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "share", "Trash")
	}
	return ""
}

// trashDir is one trash: the folder holding files/ and info/, and the top
// folder that Path= is relative to ("" for the home trash, whose paths are
// absolute).
type trashDir struct {
	dir, top string
}

// trashFor returns the trash for the file at path, on path's file system.
// With create it makes the trash when it is missing; without, it only
// checks that it could.
func trashFor(path, home string, create bool) (trashDir, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return trashDir{}, err
	}
	dev, ok := deviceOf(st)
	if !ok {
		return trashDir{}, errors.New("no trash on this system")
	}
	if home != "" {
		if hd, ok := nearestDevice(home); ok && hd == dev {
			return trashDir{dir: home}, prepareTrash(home, dev, false, create)
		}
	}
	top, err := mountPoint(filepath.Dir(path), dev)
	if err != nil {
		return trashDir{}, err
	}
	uid := strconv.Itoa(os.Getuid())
	// Method 1 of the specification: a shared .Trash made by the
	// administrator, sticky and not a link, with a folder per user.
	if at, err := os.Lstat(filepath.Join(top, ".Trash")); err == nil && at.IsDir() && at.Mode()&fs.ModeSticky != 0 {
		dir := filepath.Join(top, ".Trash", uid)
		if prepareTrash(dir, dev, true, create) == nil {
			return trashDir{dir: dir, top: top}, nil
		}
	}
	dir := filepath.Join(top, ".Trash-"+uid)
	return trashDir{dir: dir, top: top}, prepareTrash(dir, dev, true, create)
}

// prepareTrash checks (and with create makes) the trash folder dir and its
// files/ and info/ on device dev. A top-directory trash must be a folder
// of ours, not a link, as the specification asks.
func prepareTrash(dir string, dev uint64, own, create bool) error {
	for _, d := range []string{dir, filepath.Join(dir, "files"), filepath.Join(dir, "info")} {
		stat := os.Lstat
		if !own && d == dir {
			stat = os.Stat // the home trash may be a link to a folder of the user's
		}
		st, err := stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			if !create {
				if !canCreate(d) {
					return fmt.Errorf("cannot create the trash %s", dir)
				}
				return nil
			}
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("cannot create the trash: %w", err)
			}
			st, err = stat(d)
		}
		if err != nil {
			return fmt.Errorf("trash: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("trash %s is not a folder", d)
		}
		if own && d == dir && !ownedByMe(st) {
			return fmt.Errorf("trash %s belongs to another user", d)
		}
		if dd, ok := deviceOf(st); !ok || dd != dev {
			return fmt.Errorf("trash %s is on another file system", d)
		}
	}
	return nil
}

// canCreate reports whether the nearest existing folder above path is
// writable, so that a dry run can say a trash could not be made.
func canCreate(path string) bool {
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			return writable(d)
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

// nearestDevice is the device of path, or of its nearest existing parent.
func nearestDevice(path string) (uint64, bool) {
	for d := path; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil {
			return deviceOf(st)
		}
		if d == filepath.Dir(d) {
			return 0, false
		}
	}
}

// mountPoint walks up from dir while the device stays dev.
func mountPoint(dir string, dev uint64) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir, nil
		}
		st, err := os.Stat(parent)
		if err != nil {
			return "", fmt.Errorf("find the mount point: %w", err)
		}
		if d, ok := deviceOf(st); !ok || d != dev {
			return dir, nil
		}
		dir = parent
	}
}

// slot returns a free name in the trash for path: files/NAME and
// info/NAME.trashinfo, neither existing nor in taken.
func (t trashDir) slot(path string, taken map[string]bool) (file, info string, err error) {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if stem == "" { // ".hidden": the whole name is the stem
		stem, ext = base, ""
	}
	for n := 1; n <= 10000; n++ {
		name := base
		if n > 1 {
			name = stem + "." + strconv.Itoa(n) + ext
		}
		file = filepath.Join(t.dir, "files", name)
		info = filepath.Join(t.dir, "info", name+".trashinfo")
		if taken[file] {
			continue
		}
		if _, err := os.Lstat(file); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(info); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return file, info, nil
	}
	return "", "", fmt.Errorf("no free name for %s in the trash %s", base, t.dir)
}

// trashFile moves path into the trash slot (file, info) that slot chose:
// the info file first, created exclusively so that it claims the name,
// then the file, by a link and an unlink (a rename where the file system
// has no hard links), never by a copy.
func trashFile(path, file, info, top string, now time.Time) error {
	loc := path
	if top != "" {
		rel, err := filepath.Rel(top, path)
		if err != nil {
			return err
		}
		loc = rel
	}
	f, err := os.OpenFile(info, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("trash: %w", err)
	}
	_, err = f.Write(formatTrashInfo(loc, now))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(info)
		return fmt.Errorf("trash: %w", err)
	}
	err = os.Link(path, file)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EMLINK) {
		// No hard links here (FAT, some network shares): a rename does
		// the same on one file system, and the name is ours since the
		// info file claimed it.
		if _, lerr := os.Lstat(file); errors.Is(lerr, fs.ErrNotExist) {
			err = os.Rename(path, file)
			if err == nil {
				return nil
			}
		}
	}
	if err != nil {
		os.Remove(info)
		if errors.Is(err, syscall.EXDEV) {
			return errors.New("the trash is on another mount of this file system; not copied")
		}
		return fmt.Errorf("trash: %w", err)
	}
	if err := os.Remove(path); err != nil {
		os.Remove(file)
		os.Remove(info)
		return fmt.Errorf("trash: %w", err)
	}
	return nil
}

// trashInfoDate is the specification's DeletionDate layout, local time.
const trashInfoDate = "2006-01-02T15:04:05"

// trashInfoHeader starts every .trashinfo file.
const trashInfoHeader = "[Trash Info]\n"

// formatTrashInfo is the content of a .trashinfo file for path.
func formatTrashInfo(path string, deleted time.Time) []byte {
	return []byte(trashInfoHeader + "Path=" + escapeTrashPath(path) + "\nDeletionDate=" + deleted.Local().Format(trashInfoDate) + "\n")
}

// TrashInfo is what a .trashinfo file says.
type TrashInfo struct {
	Path    string    // where the file was: absolute, or relative to the trash's top folder
	Deleted time.Time // local time, to the second
}

// ParseTrashInfo reads a .trashinfo file: a [Trash Info] group with a
// percent-encoded Path and a DeletionDate. Other groups and keys are
// ignored, as the specification allows.
func ParseTrashInfo(b []byte) (TrashInfo, error) {
	var ti TrashInfo
	var group string
	seenGroup, seenPath, seenDate := false, false, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			group = line
			if !seenGroup && group != "[Trash Info]" {
				return ti, errors.New("trashinfo: does not start with [Trash Info]")
			}
			seenGroup = true
			continue
		}
		if !seenGroup {
			return ti, errors.New("trashinfo: does not start with [Trash Info]")
		}
		if group != "[Trash Info]" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return ti, fmt.Errorf("trashinfo: %q is not KEY=VALUE", line)
		}
		switch strings.TrimSpace(k) {
		case "Path":
			p, err := unescapeTrashPath(strings.TrimSpace(v))
			if err != nil {
				return ti, fmt.Errorf("trashinfo: Path: %w", err)
			}
			if p == "" {
				return ti, errors.New("trashinfo: empty Path")
			}
			ti.Path, seenPath = p, true
		case "DeletionDate":
			t, err := time.ParseInLocation(trashInfoDate, strings.TrimSpace(v), time.Local)
			if err != nil {
				return ti, fmt.Errorf("trashinfo: DeletionDate: %w", err)
			}
			ti.Deleted, seenDate = t, true
		}
	}
	if err := sc.Err(); err != nil {
		return ti, fmt.Errorf("trashinfo: %w", err)
	}
	switch {
	case !seenGroup:
		return ti, errors.New("trashinfo: no [Trash Info] group")
	case !seenPath:
		return ti, errors.New("trashinfo: no Path")
	case !seenDate:
		return ti, errors.New("trashinfo: no DeletionDate")
	}
	return ti, nil
}

// escapeTrashPath percent-encodes every byte of p but the unreserved
// characters of RFC 3986 and the slash.
func escapeTrashPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func unescapeTrashPath(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at byte %d", i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q", s[i:i+3])
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// removeTrashInfo removes the info file of a trashed file if it still
// describes path (a file manager may have reused the name since). A
// relative Path= is relative to the trash's top folder, an ancestor of
// path. An info file that is empty, or a torn start of the [Trash Info]
// group, is the one trashFile claimed when a kill came before its bytes
// reached the disk: nothing else writes such a file under a name the
// journal recorded, so it goes too.
func removeTrashInfo(info, path string) {
	if info == "" {
		return
	}
	b, err := os.ReadFile(info)
	if err != nil {
		return
	}
	if len(b) < len(trashInfoHeader) && strings.HasPrefix(trashInfoHeader, string(b)) {
		os.Remove(info)
		return
	}
	ti, err := ParseTrashInfo(b)
	if err != nil {
		return
	}
	if ti.Path == path || !filepath.IsAbs(ti.Path) && strings.HasSuffix(path, string(filepath.Separator)+ti.Path) {
		os.Remove(info)
	}
}

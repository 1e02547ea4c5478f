package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
)

// walkFlags choose which files under the PATHs index and dedup take.
func walkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "exclude", Usage: "skip files and folders matching `GLOB` (repeatable): without a slash it matches a name at any depth, " +
			"with one the path below the PATH (** for any folders)"},
		&cli.BoolFlag{Name: "no-default-excludes", Usage: "also walk the folders skipped by default: " + strings.Join(simsearch.DefaultExcludes(), ", ")},
		&cli.StringFlag{Name: "min-size", Usage: "skip files smaller than `SIZE` (bytes, or with k, M, G: 10k, 1M)"},
		&cli.BoolFlag{Name: "one-file-system", Usage: "do not descend into other file systems (mount points) below a PATH"},
		&cli.IntFlag{Name: "max-pixels", Usage: "skip images declaring more than `N` pixels (default 100000000)"},
	}
}

// walkOptions fills opts from the walk flags.
func walkOptions(c *cli.Command, opts *simsearch.IndexOptions) error {
	opts.Exclude = c.StringSlice("exclude")
	opts.NoDefaultExcludes = c.Bool("no-default-excludes")
	opts.OneFileSystem = c.Bool("one-file-system")
	if s := c.String("min-size"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			return usagef("--min-size: %v", err)
		}
		opts.MinSize = n
	}
	if n := c.Int("max-pixels"); n < 0 {
		return usagef("--max-pixels %d: must be positive", n)
	} else {
		opts.MaxPixels = int64(n)
	}
	return nil
}

// parseSize reads a byte count such as 500, 10k, 1.5M or 2G (powers of
// 1024; a trailing B or iB is allowed).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "i")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with k, M, G or T)", s)
	}
	return int64(f * mult), nil
}

// readList reads file names from r, one a line (CRLF allowed) or, with
// nul, separated by NUL bytes; empty names are left out.
func readList(r io.Reader, nul bool) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if nul {
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			if i := bytes.IndexByte(data, 0); i >= 0 {
				return i + 1, data[:i], nil
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		})
	}
	var names []string
	for sc.Scan() {
		n := sc.Text()
		if !nul {
			n = strings.TrimSuffix(n, "\r")
		}
		if n != "" {
			names = append(names, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the list of files: %w", err)
	}
	return names, nil
}

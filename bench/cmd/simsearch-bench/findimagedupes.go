package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/internal/evaluate"
	"github.com/simsearch/simsearch/internal/store"
)

// findimagedupesSettings are the thresholds findimagedupes is run at:
// its default and a stricter one.
var findimagedupesSettings = []string{"90%", "95%"}

// peerFigure is one duplicate finder at one setting on the sample photos.
type peerFigure struct {
	Tool    string   `json:"tool"`
	Version string   `json:"version,omitempty"`
	Setting string   `json:"setting"`
	P       float64  `json:"precision"`
	R       float64  `json:"recall"`
	F1      float64  `json:"f1"`
	WallS   float64  `json:"wall_s"`
	Groups  int      `json:"groups"`
	Missed  []string `json:"missed"` // copies not grouped with their original
	Skipped string   `json:"skipped,omitempty"`
}

// pairSet is the pairs of indices that share a group, lower first.
type pairSet map[[2]int]bool

func pairsOf(groups [][]int) pairSet {
	out := pairSet{}
	for _, g := range groups {
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				a, b := g[i], g[j]
				out[[2]int{min(a, b), max(a, b)}] = true
			}
		}
	}
	return out
}

func (s pairSet) has(a, b int) bool { return s[[2]int{min(a, b), max(a, b)}] }

// score fills f's precision, recall, F1 and the copies missed.
func (f *peerFigure) score(pairs []evaluate.Pair, grouped pairSet, copies [][2]int, names []string) {
	f.P, f.R, f.F1 = evaluate.PRF(pairs, func(p evaluate.Pair) bool { return grouped.has(p.A, p.B) })
	for _, c := range copies {
		if !grouped.has(c[0], c[1]) {
			f.Missed = append(f.Missed, names[c[0]])
		}
	}
	slices.Sort(f.Missed)
}

// runFindimagedupes runs findimagedupes at each setting on roots (a
// folder or files) and scores its groups. index maps a file's base name
// to its index in pairs. Without findimagedupes every figure says
// skipped.
func runFindimagedupes(ctx context.Context, roots []string, index map[string]int, pairs []evaluate.Pair, copies [][2]int, names []string) ([]peerFigure, error) {
	var out []peerFigure
	bin, err := exec.LookPath("findimagedupes")
	if err != nil {
		for _, s := range findimagedupesSettings {
			out = append(out, peerFigure{Tool: "findimagedupes", Setting: "-t " + s,
				Skipped: "skipped: findimagedupes is not installed (apt-get install findimagedupes; make bench-peers does it as root)"})
		}
		return out, nil
	}
	version := debianVersion(ctx, "findimagedupes")
	for _, s := range findimagedupesSettings {
		f := peerFigure{Tool: "findimagedupes", Version: version, Setting: "-t " + s}
		if s == findimagedupesSettings[0] {
			f.Setting += " (default)"
		}
		// No fingerprint database (-f): every run fingerprints every
		// photo, as our first index run embeds every one.
		cmd := exec.CommandContext(ctx, bin, append([]string{"-q", "-t", s, "--"}, roots...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		t := time.Now()
		err := cmd.Run()
		f.WallS = time.Since(t).Seconds()
		if err != nil {
			return out, fmt.Errorf("findimagedupes -t %s: %w: %s", s, err, strings.TrimSpace(stderr.String()))
		}
		groups, err := parseFindimagedupes(stdout.Bytes(), index)
		if err != nil {
			return out, err
		}
		f.Groups = len(groups)
		f.score(pairs, pairsOf(groups), copies, names)
		out = append(out, f)
	}
	return out, nil
}

// parseFindimagedupes reads findimagedupes' output: one group a line,
// its files separated by spaces. A file name may hold spaces too, so
// words are joined until they name a file of the set.
func parseFindimagedupes(out []byte, index map[string]int) ([][]int, error) {
	var groups [][]int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var g []int
		cur := ""
		for _, w := range strings.Split(line, " ") {
			if cur != "" {
				cur += " "
			}
			cur += w
			if i, ok := index[filepath.Base(cur)]; ok {
				g = append(g, i)
				cur = ""
			}
		}
		if cur != "" {
			return nil, fmt.Errorf("findimagedupes printed %q, not a file of the set", cur)
		}
		if len(g) > 1 {
			groups = append(groups, g)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(groups) == 0 && len(bytes.TrimSpace(out)) > 0 {
		return nil, errors.New("findimagedupes printed no groups")
	}
	return groups, nil
}

// debianVersion is the installed Debian package's version, or "".
func debianVersion(ctx context.Context, pkg string) string {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// peerTable is the side-by-side table of the dedup row.
func peerTable(raw *dedupRaw) Table {
	t := Table{
		Caption: fmt.Sprintf("Side by side with findimagedupes (Debian's perceptual-hash duplicate finder) on the same %d files: pair precision, recall and F1 of the groups each prints, scored alike (`internal/evaluate`), and the wall time from nothing (simsearch: `Engine.Index` into a fresh database with vgg16-random, then `Duplicates`; findimagedupes: one run without a fingerprint database). findimagedupes joins photos whose hashes are close into one group, chaining; simsearch never chains.", raw.Photos),
		Header:  []string{"tool", "setting", "pair P", "pair R", "pair F1", "groups", "wall", "copies not with their original"},
	}
	for _, f := range raw.Peers {
		tool := f.Tool
		if f.Version != "" {
			tool += " " + f.Version
		}
		if f.Skipped != "" {
			t.Rows = append(t.Rows, []string{tool, f.Setting, f.Skipped, "", "", "", "", ""})
			continue
		}
		missed := "none"
		if len(f.Missed) > 0 {
			missed = strings.Join(f.Missed, ", ")
		}
		t.Rows = append(t.Rows, []string{tool, f.Setting, f3(f.P), f3(f.R), f3(f.F1), num(float64(f.Groups)), seconds(f.WallS), missed})
	}
	return t
}

// samplePeers scores simsearch at its default threshold and
// findimagedupes at each setting on the sample photos that samplePRF
// indexed from roots (their folder, or files in a quick run) in indexS
// seconds.
func samplePeers(ctx context.Context, e *simsearch.Engine, roots []string, items []store.Item, pairs []evaluate.Pair, original map[string]string, indexS float64, raw *dedupRaw) error {
	names := make([]string, len(items))
	index := map[string]int{}
	for i, it := range items {
		names[i] = filepath.Base(it.Path)
		index[names[i]] = i
	}
	var copies [][2]int // a copy and its original, by index
	for v, o := range original {
		vi, ok1 := index[v]
		oi, ok2 := index[o]
		if ok1 && ok2 {
			copies = append(copies, [2]int{vi, oi})
		}
	}
	t := time.Now()
	groups, err := e.Duplicates(ctx, nil, nil)
	if err != nil {
		return err
	}
	ours := peerFigure{Tool: "simsearch", Version: "vgg16-random", Setting: fmt.Sprintf("--threshold %.2f (default)", e.Threshold()),
		WallS: indexS + time.Since(t).Seconds(), Groups: len(groups)}
	var members [][]int
	for _, g := range groups {
		m := []int{index[filepath.Base(g.Keeper.Path)]}
		for _, x := range g.Members {
			m = append(m, index[filepath.Base(x.Path)])
		}
		members = append(members, m)
	}
	ours.score(pairs, pairsOf(members), copies, names)
	raw.Peers = append(raw.Peers, ours)
	peers, err := runFindimagedupes(ctx, roots, index, pairs, copies, names)
	raw.Peers = append(raw.Peers, peers...)
	return err
}

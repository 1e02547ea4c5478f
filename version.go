package simsearch

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/simsearch/simsearch/internal/extractor"
)

// The Makefile sets these with -ldflags -X, because the go command records
// no VCS information in some builds (from a git worktree, or with
// -buildvcs=false). They are empty in other builds and never change at
// run time.
var (
	linkVersion  string // the release tag at HEAD; empty for a dev build
	linkCommit   string // the commit checked out
	linkModified string // "true" when the checkout had uncommitted changes
)

// modulePath is this module's path, to find it in a program's build
// information.
const modulePath = "github.com/simsearch/simsearch"

// Build describes the simsearch code a program was built from.
type Build struct {
	// Version is the release, e.g. "v1.2.0", or "dev" for a build from a
	// checkout that is not at a release tag.
	Version string
	// Commit is the full VCS revision; "" when the build recorded none.
	Commit string
	// Modified reports uncommitted changes in the checkout it was built
	// from.
	Modified bool
	// GoVersion is the Go release that built the program, e.g. "go1.26.8".
	GoVersion string
}

// ReadBuild returns the build of simsearch in this program: the main
// module's in the simsearch command, the dependency's in a program that
// uses the library.
func ReadBuild() Build {
	info, _ := debug.ReadBuildInfo()
	return readBuild(info, linkVersion, linkCommit, linkModified)
}

// pseudoVersion matches the go command's pseudo-versions (an untagged
// commit: v0.0.0-20261201090928-4460b50a867d, v1.2.4-0.20261201090928-
// 4460b50a867d) and captures their commit prefix.
var pseudoVersion = regexp.MustCompile(`^v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})$`)

func readBuild(info *debug.BuildInfo, version, commit, modified string) Build {
	b := Build{Version: "dev", GoVersion: runtime.Version()}
	if info != nil {
		var mod *debug.Module
		if info.Main.Path == modulePath {
			mod = &info.Main
		}
		for _, d := range info.Deps {
			if d.Path == modulePath {
				mod = d
				if d.Replace != nil {
					mod = d.Replace
				}
			}
		}
		if mod != nil {
			// The go command appends +dirty to the version of a build
			// from a modified checkout.
			v, meta, _ := strings.Cut(mod.Version, "+")
			b.Modified = meta == "dirty"
			if m := pseudoVersion.FindStringSubmatch(v); m != nil {
				b.Commit = m[1]
			} else if v != "" && v != "(devel)" {
				b.Version = v
			}
		}
		if mod == &info.Main {
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Commit = s.Value
				case "vcs.modified":
					b.Modified = s.Value == "true"
				}
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if commit != "" {
		b.Commit, b.Modified = commit, modified == "true"
	}
	return b
}

// RuntimeVersion loads the ONNX Runtime shared library from where Open
// would, reading the environment with getenv (nil means os.Getenv), and
// returns its version, e.g. "1.24.3", and path. The error says where it
// looked when no library loads.
func RuntimeVersion(getenv func(string) string) (version, library string, err error) {
	rt, err := extractor.OpenRuntime(&extractor.RuntimeOptions{Getenv: getenv})
	if err != nil {
		return "", "", err
	}
	defer rt.Close()
	return rt.Version(), rt.Library(), nil
}

// HEIFDecoder names what decodes HEIC and AVIF files in this program:
// "libheif 1.15.1 (cgo)" in a cgo build, or the pure-Go fallback and
// whether it found the system libraries or runs them in WebAssembly
// ("pure Go (HEIC: WebAssembly, AVIF: WebAssembly)"), 20 to 60 times
// slower.
func HEIFDecoder() string { return extractor.HEIFDecoder() }

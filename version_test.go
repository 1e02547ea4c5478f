package simsearch

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestReadBuild(t *testing.T) {
	const rev = "4460b50a867d575371932a72415517721aa12cd8"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	app := debug.Module{Path: "example.com/app", Version: "v0.1.0"}
	for _, tc := range []struct {
		name                     string
		info                     *debug.BuildInfo
		version, commit, changed string // link flags
		want                     Build
	}{
		{name: "no build information", want: Build{Version: "dev"}},
		{
			name: "clone at no tag, changed",
			info: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.0.0-20261201090928-4460b50a867d+dirty"}, Settings: vcs("true")},
			want: Build{Version: "dev", Commit: rev, Modified: true},
		},
		{
			name: "clone at a release tag",
			info: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.0"}, Settings: vcs("false")},
			want: Build{Version: "v1.2.0", Commit: rev},
		},
		{
			name: "worktree or -buildvcs=false",
			info: &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}},
			want: Build{Version: "dev"},
		},
		{
			name:    "link flags from the Makefile",
			info:    &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}},
			version: "v1.2.0", commit: rev, changed: "true",
			want: Build{Version: "v1.2.0", Commit: rev, Modified: true},
		},
		{
			name: "released dependency: the program's own commit is not ours",
			info: &debug.BuildInfo{Main: app, Settings: vcs("true"), Deps: []*debug.Module{{Path: modulePath, Version: "v1.3.0"}}},
			want: Build{Version: "v1.3.0"},
		},
		{
			name: "dependency at a commit after a release",
			info: &debug.BuildInfo{Main: app, Deps: []*debug.Module{{Path: modulePath, Version: "v1.2.4-0.20261201090928-4460b50a867d"}}},
			want: Build{Version: "dev", Commit: "4460b50a867d"},
		},
		{
			name: "dependency replaced by a directory",
			info: &debug.BuildInfo{Main: app, Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "../"}}}},
			want: Build{Version: "dev"},
		},
		{
			name: "not in the program",
			info: &debug.BuildInfo{Main: app, Settings: vcs("false")},
			want: Build{Version: "dev"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.GoVersion = runtime.Version()
			if got := readBuild(tc.info, tc.version, tc.commit, tc.changed); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

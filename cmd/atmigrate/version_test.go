package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
	for _, tc := range []struct {
		name    string
		version string
		set     []debug.BuildSetting
		want    string
	}{
		{"module proxy", "v0.4.1", nil, "v0.4.1"},
		{"clone at a tag", "v0.4.1", settings("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-01T10:11:12Z", "vcs.modified", "false"),
			"v0.4.1 (commit 1a2b3c4, 2026-12-01)"},
		{"clone between tags", "v0.4.2-0.20261201101112-1a2b3c4d5e6f+dirty", settings("vcs.revision", rev, "vcs.time", "2026-12-01T10:11:12Z", "vcs.modified", "true"),
			"v0.4.2-0.20261201101112-1a2b3c4d5e6f+dirty (commit 1a2b3c4, 2026-12-01, modified)"},
		{"devel with commit", "(devel)", settings("vcs.revision", rev, "vcs.modified", "true"), "devel (commit 1a2b3c4, modified)"},
		{"time in another zone", "v1.0.0", settings("vcs.time", "2026-12-01T23:30:00-02:00"), "v1.0.0 (2026-12-02)"},
		{"go run", "(devel)", settings("-compiler", "gc", "GOOS", "linux"), "devel"},
		{"empty", "", nil, "devel"},
		{"short revision", "(devel)", settings("vcs.revision", "abc"), "devel (commit abc)"},
		{"bad time ignored", "(devel)", settings("vcs.time", "yesterday"), "devel"},
		{"e2e build", "(devel)", settings("-tags", "netgo,e2e", "vcs.revision", rev), "devel (commit 1a2b3c4, test hooks: -tags e2e)"},
		{"other tags", "(devel)", settings("-tags", "netgo,e2e_extra"), "devel"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/atmigrate/atmigrate", Version: tc.version}, Settings: tc.set}
		if got := buildVersion(bi); got != tc.want {
			t.Errorf("%s: buildVersion = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := buildVersion(nil); got != "devel" {
		t.Errorf("no build info: %q, want devel", got)
	}
}

func TestResolveVersionStampWins(t *testing.T) {
	if got := resolveVersion("v9.9.9-custom"); got != "v9.9.9-custom" {
		t.Errorf("resolveVersion(stamp) = %q", got)
	}
	// A test binary has build info (Main.Version "(devel)" or the like):
	// never an empty version.
	if got := resolveVersion(""); got == "" {
		t.Error("resolveVersion(\"\") is empty")
	}
}

func TestVersionFlag(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v0.4.1 (commit 1a2b3c4, 2026-12-01)"
	app := newApp()
	var out strings.Builder
	app.Writer = &out
	if err := app.Run([]string{"atmigrate", "--version"}); err != nil {
		t.Fatal(err)
	}
	if want := "atmigrate v0.4.1 (commit 1a2b3c4, 2026-12-01)\n"; out.String() != want {
		t.Errorf("--version printed %q, want %q", out.String(), want)
	}
}

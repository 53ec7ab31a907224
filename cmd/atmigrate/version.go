package main

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// version is atmigrate's version, printed by --version and sent in the
// User-Agent. A release may stamp it with -ldflags "-X main.version=...",
// and a stamp wins; unstamped, main sets it from the build info the go
// command records (see buildVersion).
var version string

// resolveVersion is the stamp when there is one, else the build info's.
func resolveVersion(stamp string) string {
	if stamp != "" {
		return stamp
	}
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(bi)
}

// buildVersion formats the module version and the commit the go command
// recorded, as --version prints them and the User-Agent carries them
// ("atmigrate/v0.4.1 (commit 1a2b3c4, 2026-12-01)" is a valid one):
//
//	v0.4.1                                 go install ...@v0.4.1 (the proxy's zip has no VCS data)
//	v0.4.1 (commit 1a2b3c4, 2026-12-01)    go build or go install in a clone at the tag v0.4.1
//	devel (commit 1a2b3c4, 2026-12-01, modified)
//	devel                                  go run, a git worktree, -buildvcs=false
//
// Between tags, go build in a clone reports a pseudo-version
// (v0.0.0-20261201231159-1a2b3c4d5e6f) as Main.Version: printed as is,
// since it also says which tag it follows. Go's "(devel)" becomes "devel",
// a valid User-Agent product version. A binary built with -tags e2e (the
// test hooks compiled in) says so.
func buildVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "devel"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, date, tags string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				date = t.UTC().Format(time.DateOnly)
			}
		case "vcs.modified":
			modified = s.Value == "true"
		case "-tags":
			tags = s.Value
		}
	}
	var details []string
	if rev != "" {
		details = append(details, "commit "+rev[:min(len(rev), 7)])
	}
	if date != "" {
		details = append(details, date)
	}
	if modified {
		details = append(details, "modified")
	}
	for _, t := range strings.Split(tags, ",") {
		if t == "e2e" {
			details = append(details, "test hooks: -tags e2e")
		}
	}
	if len(details) == 0 {
		return v
	}
	return v + " (" + strings.Join(details, ", ") + ")"
}

// printVersion is --version: "atmigrate v0.4.1 (commit 1a2b3c4,
// 2026-12-01)", where urfave/cli would print "atmigrate version ...".
func printVersion(c *cli.Context) {
	fmt.Fprintf(c.App.Writer, "%s %s\n", c.App.Name, c.App.Version)
}

package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/internal/fakenet"
)

// walk calls fn for every command below the app, with its path.
func walk(cmds []*cli.Command, path string, fn func(path string, c *cli.Command)) {
	for _, c := range cmds {
		if c.Name == "help" {
			continue
		}
		p := strings.TrimSpace(path + " " + c.Name)
		fn(p, c)
		walk(c.Subcommands, p, fn)
	}
}

// The renames of issue 13, command by command: old spelling -> new name.
var wantRenamed = map[string]map[string]string{
	"migrate":              {"concurrency": "blob-concurrency"},
	"export":               {"concurrency": "blob-concurrency"},
	"batch":                {"concurrency": "parallel-accounts"},
	"plc log":              {"pds": "old-pds"},
	"plc add-rotation-key": {"pds": "old-pds", "password": "old-password"},
	"plc recover":          {"pds": "old-pds"},
}

// Every old spelling is a hidden flag standing for a visible one of the
// same command; none shows in --help, neither as a flag nor as an env var.
func TestOldSpellingsHidden(t *testing.T) {
	app := newApp()
	seen := map[string]map[string]string{}
	walk(app.Commands, "", func(path string, c *cli.Command) {
		if c.OnUsageError == nil || c.Before == nil {
			t.Errorf("%s: not set up (setupCommands)", path)
		}
		for _, f := range c.Flags {
			r, ok := f.(renamedFlag)
			if !ok {
				continue
			}
			old := r.Names()[0]
			if seen[path] == nil {
				seen[path] = map[string]string{}
			}
			seen[path][old] = r.renamedTo()
			if v, ok := f.(cli.VisibleFlag); !ok || v.IsVisible() {
				t.Errorf("%s --%s: the old spelling is visible", path, old)
			}
			to := findFlag(c, r.renamedTo())
			if to == nil {
				t.Errorf("%s --%s: stands for --%s, which the command lacks", path, old, r.renamedTo())
				continue
			}
			if v, ok := to.(cli.VisibleFlag); !ok || !v.IsVisible() {
				t.Errorf("%s --%s: the new name is hidden", path, r.renamedTo())
			}
		}
		help := atmigrate(t, nil, append(strings.Fields(path), "--help")...).stdout
		for old, to := range seen[path] {
			if regexp.MustCompile(`(^|[\s,])--` + regexp.QuoteMeta(old) + `\b`).MatchString(help) {
				t.Errorf("%s --help shows the old spelling --%s:\n%s", path, old, help)
			}
			if !strings.Contains(help, "--"+to+" ") {
				t.Errorf("%s --help does not show --%s", path, to)
			}
		}
		if strings.Contains(help, "$ATMIGRATE_PASSWORD") {
			t.Errorf("%s --help shows the old ATMIGRATE_PASSWORD", path)
		}
	})
	for path, want := range wantRenamed {
		for old, to := range want {
			if seen[path][old] != to {
				t.Errorf("%s: --%s should be the hidden old spelling of --%s (have %q)", path, old, to, seen[path][old])
			}
		}
	}
}

// The old spellings still reach the code, with a warning.
func TestOldSpellingsStillWork(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--account", "did:plc:x", "--new-pds", "http://127.0.0.1:1", "--concurrency", "0"}, "--blob-concurrency must be between"},
		{[]string{"export", "--account", "did:plc:x", "--out", "dir", "--concurrency", "0"}, "--blob-concurrency must be between"},
		{[]string{"batch", "--accounts", "a", "--new-pds", "b", "--state-dir", "c", "--yes", "--concurrency", "99"}, "--parallel-accounts must be between"},
	} {
		r := atmigrate(t, nil, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "--concurrency is the old spelling of") {
			t.Errorf("atmigrate %s: want exit 2, %q and a warning\n%s", strings.Join(c.args, " "), c.want, r)
		}
	}
	// Both given: the new name wins.
	r := atmigrate(t, nil, "migrate", "--account", "did:plc:x", "--new-pds", "http://127.0.0.1:1", "--concurrency", "3", "--blob-concurrency", "0")
	if !strings.Contains(r.stderr, "--blob-concurrency must be between") || !strings.Contains(r.stderr, "set too, wins") {
		t.Errorf("--concurrency 3 --blob-concurrency 0: want the new name to win\n%s", r)
	}
}

// plc add-rotation-key logs in with the password under any of its names,
// through the PDS given under either name, and passes the 2FA code: it then
// asks the PDS for the PLC token and pauses (exit 3), having no terminal.
func TestAddRotationKeyOldAndNewSpellings(t *testing.T) {
	plc := fakenet.NewPLC(t)
	pdsA := fakenet.NewPDS(t, plc, fakenet.PDSOptions{})
	pdsA.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: "hunter2"})
	pdsA.AddAccount(fakenet.AccountSpec{Handle: "bob.test", Password: "hunter3", AuthFactorToken: "424242"})
	key := "did:key:zQ3shYqZE533eST1nZSLujvuXTXw8tQgxCJKApkFRvokn4REF"
	base := func(handle string) []string {
		return []string{"plc", "add-rotation-key", "--account", handle, "--key", key, "--plc-url", plc.URL, "--yes"}
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"new names", nil, []string{"--old-pds", pdsA.URL, "--old-password", "hunter2"}, exitPaused, "emailed a PLC token"},
		{"new env", map[string]string{"ATMIGRATE_OLD_PASSWORD": "hunter2"}, []string{"--old-pds", pdsA.URL}, exitPaused, "emailed a PLC token"},
		{"old flags", nil, []string{"--pds", pdsA.URL, "--password", "hunter2"}, exitPaused, "--password (ATMIGRATE_PASSWORD) is the old spelling"},
		{"old env", map[string]string{"ATMIGRATE_PASSWORD": "hunter2"}, []string{"--pds", pdsA.URL}, exitPaused, "--pds is the old spelling of --old-pds"},
		{"wrong password", nil, []string{"--pds", pdsA.URL, "--password", "nope"}, exitUsage, "check ATMIGRATE_OLD_PASSWORD (or --old-password)"},
		{"no password", nil, []string{"--old-pds", pdsA.URL}, exitUsage, "ATMIGRATE_OLD_PASSWORD (or --old-password) is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := atmigrate(t, c.env, append(base("alice.test"), c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("want exit %d and %q\n%s", c.code, c.want, r)
			}
		})
	}
	t.Run("2FA", func(t *testing.T) {
		args := append(base("bob.test"), "--old-pds", pdsA.URL, "--old-password", "hunter3")
		if r := atmigrate(t, nil, args...); r.code != exitUsage || !strings.Contains(r.stderr, "--auth-factor-token") {
			t.Errorf("without the code: want exit 2 naming --auth-factor-token\n%s", r)
		}
		if r := atmigrate(t, nil, append(args, "--auth-factor-token", "424242")...); r.code != exitPaused {
			t.Errorf("with the code: want exit 3\n%s", r)
		}
	})
}

// plc log resolves a handle through the PDS given as --old-pds or, the old
// way, --pds.
func TestPLCLogResolvesThroughOldPDS(t *testing.T) {
	plc := fakenet.NewPLC(t)
	pdsA := fakenet.NewPDS(t, plc, fakenet.PDSOptions{})
	did := pdsA.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: "hunter2"})
	for _, flag := range []string{"--old-pds", "--pds"} {
		r := atmigrate(t, nil, "plc", "log", "--account", "alice.test", flag, pdsA.URL, "--plc-url", plc.URL)
		if r.code != 0 || !strings.Contains(r.stdout, "#0") || !strings.Contains(r.stdout, "at://alice.test") {
			t.Errorf("plc log %s: want the log of %s\n%s", flag, did, r)
		}
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every command that talks to servers (it takes a server's URL) takes
// --stall-timeout too: `plc add-rotation-key` once did not, and so could
// not be given a shorter or longer limit than the default.
func TestEveryServerCommandTakesStallTimeout(t *testing.T) {
	eachCommand(func(name string, cmd *cli.Command) {
		talks := hasFlag(cmd, "plc-url") || hasFlag(cmd, "old-pds") || hasFlag(cmd, "new-pds")
		if talks && !hasFlag(cmd, stallFlag.Name) {
			t.Errorf("%s talks to servers but has no --%s", name, stallFlag.Name)
		}
	})
}

// eachCommand calls fn with every command and subcommand of the app, and
// its full name ("plc add-rotation-key").
func eachCommand(fn func(name string, cmd *cli.Command)) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			name := strings.TrimSpace(prefix + " " + cmd.Name)
			fn(name, cmd)
			walk(name, cmd.Subcommands)
		}
	}
	walk("", newApp().Commands)
}

// The limit given to add-rotation-key is checked like everywhere else.
func TestAddRotationKeyChecksStallTimeout(t *testing.T) {
	r := atmigrate(t, nil, "plc", "add-rotation-key", "--account", "did:plc:abc", "--key", "did:key:zQ3sh", "--stall-timeout", "1ms", "--old-password", "x")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--stall-timeout must be at least") {
		t.Errorf("want exit 2 refusing the limit\n%s", r)
	}
}

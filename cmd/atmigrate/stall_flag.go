package main

import (
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// stallFlag is --stall-timeout, on every command that talks to servers:
// how long a server may send nothing (or trickle) before the attempt ends.
var stallFlag = &cli.DurationFlag{
	Name: "stall-timeout",
	Usage: "end a request when a server sends nothing (or under 1 KiB) for this long; " +
		"a login waits 3x for the answer to start, calls that make the server work 10x, an import 40x",
	Value:   stall.Default.Idle,
	EnvVars: []string{"ATMIGRATE_STALL_TIMEOUT"},
}

// minStallTimeout keeps a typo ("1ms") from failing every request.
const minStallTimeout = 100 * time.Millisecond

// checkStallTimeout refuses a --stall-timeout that would end every call.
func checkStallTimeout(c *cli.Context) error {
	if !hasFlag(c.Command, stallFlag.Name) {
		return nil
	}
	if c.Duration(stallFlag.Name) < minStallTimeout {
		return usageError{"--stall-timeout must be at least " + minStallTimeout.String(), "the default is " + stall.Default.Idle.String()}
	}
	return nil
}

func hasFlag(cmd *cli.Command, name string) bool {
	if cmd == nil {
		return false
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// runClient is the HTTP client of one command: every server it talks to,
// under --stall-timeout (the default on commands without the flag).
func runClient(c *cli.Context) *http.Client {
	return servers.Bounded(c.Duration(stallFlag.Name))
}

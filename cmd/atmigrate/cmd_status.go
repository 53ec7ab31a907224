package main

import (
	"os"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/urfave/cli/v2"
)

var cmdStatus = &cli.Command{
	Name:  "status",
	Usage: "show a migration's state: stages done and left, counts, bytes, the last error",
	Description: "--json prints the same report for scripts; its \"status\" is one of migrated, running, interrupted,\n" +
		"paused-token, paused-didweb, failed (the same command resumes), failed-permanent (fix the input\n" +
		"first) or unknown (a run killed before it could record how it ended).",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory"},
		&cli.StringFlag{Name: "account", Usage: "handle or DID: read its default state directory", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL, to resolve a handle", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.BoolFlag{Name: "json", Usage: "print the status as JSON"},
		stallFlag,
	}, networkFlags(false)...),
	Action: runStatus,
}

func runStatus(c *cli.Context) error {
	dir, st, err := migrationState(c)
	if err != nil {
		return err
	}
	pid, running := checkpoint.Running(dir)
	v := newStatusView(dir, st, pid, running)
	if err := lookAtNetwork(c, st, &v.Network); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(v)
	}
	v.print(os.Stdout)
	printGuard(c.Context, os.Stdout, dir, st)
	return nil
}

// lookAtNetwork reads, per --relay and --appview, what the network shows
// of the account now into *seen (left nil before the DID's switch).
func lookAtNetwork(c *cli.Context, st *checkpoint.State, seen **network.Seen) error {
	relays, err := relaysFrom(c)
	if err != nil {
		return err
	}
	appview, err := appViewFrom(c)
	if err != nil {
		return err
	}
	if s, ok := migrate.LookAtNetwork(c.Context, st, migrate.LookOptions{Relays: relays, AppView: appview, HTTPClient: runClient(c)}); ok {
		*seen = &s
	}
	return nil
}

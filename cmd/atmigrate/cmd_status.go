package main

import (
	"os"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/urfave/cli/v2"
)

var cmdStatus = &cli.Command{
	Name:  "status",
	Usage: "show a migration's state: stages done and left, counts, bytes, the last error",
	Description: "--json prints the same report for scripts; its \"status\" is one of migrated, running, interrupted,\n" +
		"paused-token, paused-didweb, failed (the same command resumes), failed-permanent (fix the input\n" +
		"first) or unknown (a run killed before it could record how it ended).",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory"},
		&cli.StringFlag{Name: "account", Usage: "handle or DID: read its default state directory", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL, to resolve a handle", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.BoolFlag{Name: "json", Usage: "print the status as JSON"},
	},
	Action: runStatus,
}

func runStatus(c *cli.Context) error {
	dir, st, err := migrationState(c)
	if err != nil {
		return err
	}
	pid, running := checkpoint.Running(dir)
	v := newStatusView(dir, st, pid, running)
	if c.Bool("json") {
		return printJSON(v)
	}
	v.print(os.Stdout)
	printGuard(c.Context, os.Stdout, dir, st)
	return nil
}

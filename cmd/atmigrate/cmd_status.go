package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
)

var cmdStatus = &cli.Command{
	Name:  "status",
	Usage: "show a migration's state: stages done and left, counts, bytes, the last error",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory"},
		&cli.StringFlag{Name: "account", Usage: "handle or DID: read its default state directory", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL, to resolve a handle", Value: "https://plc.directory", EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.BoolFlag{Name: "json", Usage: "print the state file as JSON"},
	},
	Action: runStatus,
}

func runStatus(c *cli.Context) error {
	dir, err := stateDirOf(c)
	if err != nil {
		return err
	}
	st, err := migrate.LoadState(dir)
	if err != nil {
		return err
	}
	if st == nil {
		return usageError{"no migration state in " + dir, "check --state-dir (or --account)"}
	}
	if c.Bool("json") {
		return printJSON(st)
	}
	printStatus(os.Stdout, dir, st)
	printGuard(c.Context, os.Stdout, dir, st)
	return nil
}

func printStatus(w io.Writer, dir string, st *migrate.State) {
	fmt.Fprintf(w, "account   %s (%s)\n", st.DID, st.Handle)
	fmt.Fprintf(w, "from      %s\n", st.OldPDS)
	fmt.Fprintf(w, "to        %s as %s\n", st.NewPDS, st.NewHandle)
	fmt.Fprintf(w, "state     %s (updated %s)\n", dir, st.Updated.Local().Format("2006-01-02 15:04:05"))
	switch {
	case st.Completed:
		fmt.Fprintln(w, "status    migrated")
	case st.LastError == "interrupted":
		fmt.Fprintln(w, "status    interrupted (re-run the same command to resume)")
	case strings.HasPrefix(st.LastError, "waiting for"):
		fmt.Fprintln(w, "status    paused: "+st.LastError)
	case st.LastError != "":
		fmt.Fprintln(w, "status    stopped with an error (re-run the same command to resume)")
	default:
		fmt.Fprintln(w, "status    in progress or interrupted (re-run the same command to resume)")
	}
	fmt.Fprintln(w)
	for i, s := range migrate.Stages {
		mark, note := "[ ]", ""
		if ss := st.Stages[s]; ss != nil && ss.Done {
			mark, note = "[x]", ss.Note
		} else if st.LastErrorStage == s {
			mark = "[!]"
		}
		fmt.Fprintf(w, "%s %2d %-15s %s\n", mark, i+1, s, note)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "repo      %d records, %.1f MB, rev %s\n", st.Repo.Records, float64(st.Repo.Bytes)/1e6, st.Repo.Rev)
	fmt.Fprintf(w, "blobs     %d (%.1f MB), %d uploaded, %d missing on the new PDS\n", st.Blobs.Total, float64(st.Blobs.TotalBytes)/1e6, st.Blobs.Uploaded, len(st.Blobs.Missing))
	for i, c := range st.Blobs.Missing {
		if i == 20 {
			fmt.Fprintf(w, "          ... %d more\n", len(st.Blobs.Missing)-20)
			break
		}
		fmt.Fprintf(w, "          missing %s\n", c)
	}
	if st.PLC.OpCID != "" {
		fmt.Fprintf(w, "plc op    %s (%s)\n", st.PLC.OpCID, st.PLC.Method)
	} else if !st.PLC.TokenRequested.IsZero() {
		fmt.Fprintf(w, "plc op    email token requested %s\n", st.PLC.TokenRequested.Local().Format("15:04:05"))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "error     %s: %s\n", st.LastErrorStage, st.LastError)
	}
}

package main

import (
	"fmt"
	"strings"
)

// exitDoc is one exit code and what it means for one command.
type exitDoc struct {
	code    int
	meaning string
}

// The meanings every command shares.
var (
	exitDocUsage       = exitDoc{exitUsage, "bad usage or input (an unknown command or flag, a wrong password, an unknown account...); nothing irreversible was done"}
	exitDocInterrupted = exitDoc{exitInterrupted, "interrupted (Ctrl-C or SIGTERM): requests stop at once, the state is saved"}
)

// exitDocs is the one table of each command's exit codes, keyed by the
// command's path below atmigrate; every command listed here prints its
// rows in --help (withExitCodes), and the README's table follows it.
// The codes are main's constants, which exitCode returns.
var exitDocs = map[string][]exitDoc{
	"migrate": {
		{exitOK, "migrated, or already migrated (nothing changed); with --dry-run: a real run should succeed"},
		{exitFailed, "failed for a reason that can pass (a server down, a full disk, a rate limit that resets later, another run of the same migration): the state is kept and the same command resumes; with --dry-run: a real run would stop (the blockers are listed)"},
		exitDocUsage,
		{exitPaused, "paused: the PLC email token was requested (or a did:web document must be published); the same command with --plc-token continues"},
		{exitUnknown, "--dry-run only: whether a real run succeeds cannot be told (what is not known is listed)"},
		exitDocInterrupted,
	},
	"batch": {
		{exitOK, "every account migrated"},
		{exitFailed, "some accounts failed, or stopped before they were done (the same command retries them)"},
		exitDocUsage,
		{exitPaused, "some accounts await their PLC email token (data on the new PDS): run again with --tokens FILE"},
		exitDocInterrupted,
	},
	"verify": {
		{exitOK, "every check that ran passed (warnings included)"},
		{exitFailed, "a check failed (named on stderr), or a server did not answer so the checks could not be made"},
		exitDocUsage,
		exitDocInterrupted,
	},
	"watch": {
		{exitOK, "nothing changed (without --once: the 72 hours are over)"},
		{exitChanged, "something changed after the migration: a later PLC operation, or an account's status"},
		exitDocUsage,
		{exitUnknown, "--once only: the check could not be made (the PLC directory did not answer)"},
		exitDocInterrupted,
	},
	"export": {
		{exitOK, "the backup is written and verified"},
		{exitFailed, "failed for a reason that can pass; the same command continues where it stopped"},
		exitDocUsage,
		exitDocInterrupted,
	},
	"plc add-rotation-key": {
		{exitOK, "the key was added (or already was a rotation key)"},
		{exitFailed, "failed for a reason that can pass (a server down)"},
		exitDocUsage,
		{exitPaused, "the PDS emailed a PLC token to the account: run the same command again with --plc-token"},
		exitDocInterrupted,
	},
	"plc recover": {
		{exitOK, "the later operations are nullified (or there was nothing to undo)"},
		{exitFailed, "failed for a reason that can pass (the PLC directory did not answer)"},
		{exitUsage, "refused before anything was sent (a key that cannot undo them, a closed window, a bad --to), or bad usage"},
		exitDocInterrupted,
	},
}

// withExitCodes appends the command's exit codes to its description.
func withExitCodes(description, command string) string {
	docs, ok := exitDocs[command]
	if !ok {
		panic("no exit codes for " + command)
	}
	var b strings.Builder
	b.WriteString(description)
	if description != "" {
		b.WriteString("\n\n")
	}
	b.WriteString("Exit codes:")
	for _, d := range docs {
		fmt.Fprintf(&b, "\n  %-4d %s", d.code, d.meaning)
	}
	return b.String()
}

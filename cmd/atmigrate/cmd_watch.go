package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
)

var cmdWatch = &cli.Command{
	Name:  "watch",
	Usage: "guard the DID after a migration: report any later PLC operation, and the accounts' status, while it can still be undone",
	Description: withExitCodes("Compares the DID's audit log with the operation the migration in --state-dir submitted, and checks\n"+
		"that the account on the new PDS is active and the old one stays deactivated.\n\n"+
		"--once checks once; each later operation is printed with the command that undoes it. Without --once\n"+
		"it checks every --interval until 72 hours after the migration's operation, one line per check, and\n"+
		"exits 1 at the first change: run it under systemd or cron to be alerted.", "watch"),
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory"},
		&cli.StringFlag{Name: "account", Usage: "handle or DID: watch the migration in its default state directory", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL, to resolve a handle (the watch itself uses the migration's)", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.BoolFlag{Name: "once", Usage: "check once and exit (0 nothing changed, 1 changed, 4 could not check)"},
		&cli.DurationFlag{Name: "interval", Usage: "time between checks", Value: 5 * time.Minute},
		&cli.BoolFlag{Name: "json", Usage: "print each check as one JSON object per line"},
		stallFlag,
	}, networkFlags(false)...),
	Action: runWatch,
}

func runWatch(c *cli.Context) error {
	dir, st, err := migrationState(c)
	if err != nil {
		return err
	}
	opts, err := identity.WatchOptionsFromState(st)
	if err != nil {
		return err
	}
	opts.HTTPClient = runClient(c)
	if c.Duration("interval") < time.Second {
		return usageError{"--interval must be at least 1s", ""}
	}
	for {
		rep, err := identity.Watch(c.Context, opts)
		if c.Context.Err() != nil {
			return c.Context.Err()
		}
		// What the relays and the AppView show is said with each check;
		// a relay that lags is a warning, not a change to the DID.
		var seen *network.Seen
		if err == nil {
			if nerr := lookAtNetwork(c, st, &seen); nerr != nil {
				return nerr
			}
		}
		switch {
		case err != nil && c.Bool("once"):
			printError(fmt.Errorf("check %s: %w", opts.DID, err))
			return silentExit(exitUnknown)
		case err != nil:
			fmt.Fprintf(os.Stderr, "%s  check failed: %v; trying again in %s\n", stamp(time.Now()), err, c.Duration("interval"))
		case c.Bool("json"):
			out := struct {
				*identity.WatchReport
				Network *network.Seen `json:"network,omitempty"`
			}{rep, seen}
			if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
				return err
			}
		case c.Bool("once") || rep.Changed():
			printWatch(os.Stdout, dir, rep)
			if seen != nil {
				printSeen(os.Stdout, *seen)
			}
		default:
			fmt.Printf("%s  no change: %s%s\n", stamp(rep.Checked), watchLine(rep), seenLine(seen))
		}
		if err == nil && rep.Changed() {
			return silentExit(exitChanged)
		}
		if c.Bool("once") {
			return nil
		}
		if err == nil && !rep.Checked.Before(rep.Ours.WindowEnds) {
			fmt.Printf("%s  the 72 hours after %s are over; stopped watching\n", stamp(time.Now()), rep.Ours.CID)
			return nil
		}
		select {
		case <-c.Context.Done():
			return c.Context.Err()
		case <-time.After(c.Duration("interval")):
		}
	}
}

// printWatch is a check in full: what the migration left, what came after
// and how to undo it.
func printWatch(w io.Writer, dir string, rep *identity.WatchReport) {
	fmt.Fprintf(w, "DID       %s (checked %s)\n", rep.DID, stamp(rep.Checked))
	k := rep.Ours
	fmt.Fprintf(w, "ours      %s, made %s, signed by rotation key %s\n", k.CID, stamp(k.CreatedAt), signer(k))
	for _, u := range rep.Unchanged {
		fmt.Fprintf(w, "          then %s, made %s, signed by %s: changed nothing (a recovery?)\n", u.CID, stamp(u.CreatedAt), signer(u))
	}
	for _, a := range []struct {
		name string
		c    *identity.AccountCheck
	}{{"new PDS", rep.New}, {"old PDS", rep.Old}} {
		if a.c != nil {
			fmt.Fprintf(w, "%-9s %s: %s\n", a.name, a.c.URL, accountLine(a.c))
		}
	}
	if len(rep.Later) == 0 {
		fmt.Fprintln(w, "plc       no operation after ours changed the DID")
	} else {
		fmt.Fprintf(w, "CHANGED   %d operation(s) after ours:\n", len(rep.Later))
	}
	for _, l := range rep.Later {
		fmt.Fprintf(w, "  %s\n", l.CID)
		fmt.Fprintf(w, "    made      %s, signed by rotation key %s\n", stamp(l.CreatedAt), signer(l))
		for _, ch := range l.Changes {
			fmt.Fprintf(w, "    changed   %s\n", ch)
		}
		fmt.Fprintf(w, "    window    %s left (until %s)\n", left(l.Left), stamp(l.WindowEnds))
	}
	if len(rep.Later) > 0 {
		fmt.Fprintf(w, "undo      keys that can: %s; until %s\n", plc.NumberedKeys(rep.Allowed), stamp(rep.WindowEnds))
		if len(rep.Allowed) > 0 && rep.Checked.Before(rep.WindowEnds) {
			fmt.Fprintf(w, "          atmigrate plc recover --state-dir %s --rotation-key KEY_FILE\n", shellQuote(dir))
		}
	}
	for _, p := range rep.AccountProblems {
		fmt.Fprintf(w, "CHANGED   %s\n", p)
	}
	if !rep.Changed() {
		fmt.Fprintln(w, "nothing changed")
	}
}

// watchLine is one line for a check that found nothing.
func watchLine(rep *identity.WatchReport) string {
	parts := []string{"the DID is as " + rep.Ours.CID + " left it", "watching until " + stamp(rep.Ours.WindowEnds)}
	if rep.New != nil {
		parts = append(parts, "new PDS "+accountLine(rep.New))
	}
	if rep.Old != nil {
		parts = append(parts, "old PDS "+accountLine(rep.Old))
	}
	return strings.Join(parts, "; ")
}

// seenLine sums up what the relays and the AppView show, for the one
// line of a check; "" when none was asked.
func seenLine(seen *network.Seen) string {
	if seen == nil {
		return ""
	}
	var parts []string
	if n := len(seen.Relays); n > 0 {
		ok := 0
		for _, r := range seen.Relays {
			if r.OK() {
				ok++
			}
		}
		parts = append(parts, fmt.Sprintf("relays: %d of %d show the new PDS's latest commit", ok, n))
	}
	if seen.AppView != nil {
		parts = append(parts, "appview: "+seen.AppView.Summary())
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func accountLine(a *identity.AccountCheck) string {
	if !a.Known {
		return "did not answer (" + a.Error + ")"
	}
	return a.Status
}

func signer(o identity.OpReport) string {
	if o.SignerIndex < 0 {
		return "none (genesis)"
	}
	return fmt.Sprintf("[%d] %s", o.SignerIndex, o.Signer)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func left(d time.Duration) string {
	if d <= 0 {
		return "nothing (closed)"
	}
	m := int(d.Round(time.Minute) / time.Minute)
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

// shellQuote quotes s for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

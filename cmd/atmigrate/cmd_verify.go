package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/plc"
)

var cmdVerify = &cli.Command{
	Name:  "verify",
	Usage: "check a migrated account independently: records, blobs, preferences, DID document, account status",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "account", Usage: "DID of the account", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "old-pds", Usage: "old PDS URL (to compare with)"},
		&cli.StringFlag{Name: "new-pds", Usage: "new PDS URL", EnvVars: []string{"ATMIGRATE_NEW_PDS"}},
		&cli.StringFlag{Name: "plc-url", Value: "https://plc.directory", EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.StringFlag{Name: "old-password", Usage: "unlocks a deactivated old repo and the preferences", EnvVars: []string{"ATMIGRATE_OLD_PASSWORD"}},
		&cli.StringFlag{Name: "new-password", Usage: "unlocks the signing-key, missing-blob and preference checks", EnvVars: []string{"ATMIGRATE_NEW_PASSWORD"}},
		&cli.BoolFlag{Name: "no-deactivate-old", Usage: "the old account is expected to stay active"},
		&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
	},
	Action:       runVerify,
	OnUsageError: onUsageError,
}

func runVerify(c *cli.Context) error {
	did := c.String("account")
	if !strings.HasPrefix(did, "did:") {
		return usageError{"--account must be the DID", "`atmigrate status` or the PLC log shows it"}
	}
	newURL := strings.TrimRight(c.String("new-pds"), "/")
	if newURL == "" {
		return usageError{"--new-pds is required", ""}
	}
	ctx := c.Context
	opts := pds.Options{UserAgent: "atmigrate/" + version}
	newC := pds.New(newURL, opts)
	if pw := c.String("new-password"); pw != "" {
		if _, err := newC.Login(ctx, did, pw, ""); err != nil {
			return fmt.Errorf("log in to %s: %w", newURL, err)
		}
	}
	var oldC *pds.Client
	if u := strings.TrimRight(c.String("old-pds"), "/"); u != "" {
		oldC = pds.New(u, opts)
		if pw := c.String("old-password"); pw != "" {
			if _, err := oldC.Login(ctx, did, pw, ""); err != nil {
				return fmt.Errorf("log in to %s: %w", u, err)
			}
		}
	}
	rep, err := migrate.Verify(ctx, migrate.VerifyOptions{
		DID:           did,
		PLC:           plc.NewClient(c.String("plc-url"), nil),
		Old:           oldC,
		New:           newC,
		NewPDS:        newURL,
		ExpectOldDown: !c.Bool("no-deactivate-old"),
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(rep); err != nil {
			return err
		}
	} else {
		for _, ch := range rep.Checks {
			mark := "ok  "
			switch {
			case ch.Skipped:
				mark = "skip"
			case !ch.OK:
				mark = "FAIL"
			case ch.Warn:
				mark = "warn"
			}
			fmt.Printf("%s  %-18s %s\n", mark, ch.Name, ch.Detail)
		}
	}
	// A warning does not change the exit code, so it is said again on
	// stderr with what it means: the sides differ, and nothing is lost.
	if warns := rep.Warnings(); len(warns) > 0 {
		fmt.Fprintf(os.Stderr, "atmigrate: verify: %s\n", rep.Summary())
		for _, w := range warns {
			fmt.Fprintf(os.Stderr, "atmigrate: warning: %s\n", w.Message())
		}
	}
	if !rep.OK() {
		fmt.Fprintf(os.Stderr, "atmigrate: verify found differences:\n  %s\n", rep.Problems())
		return silentExit(exitFailed)
	}
	return nil
}

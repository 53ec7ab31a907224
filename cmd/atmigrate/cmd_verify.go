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
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory, for the blobs it left behind on request (default: the DID's, when there is one)"},
		bypassKeyFlag("the new PDS"),
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
	newOpts := opts
	newOpts.Headers = bypassHeaders(c)
	newC := pds.New(newURL, newOpts)
	if pw := c.String("new-password"); pw != "" {
		if _, err := (migrate.Login{DID: did, Password: pw, PasswordFlag: "--new-password", ReadOnly: true}).Open(ctx, newC); err != nil {
			return err
		}
	}
	var oldC *pds.Client
	if u := strings.TrimRight(c.String("old-pds"), "/"); u != "" {
		oldC = pds.New(u, opts)
		if pw := c.String("old-password"); pw != "" {
			if _, err := (migrate.Login{DID: did, Password: pw, PasswordFlag: "--old-password", ReadOnly: true}).Open(ctx, oldC); err != nil {
				return err
			}
		}
	}
	left, err := leftBehind(c.String("state-dir"), did)
	if err != nil {
		return err
	}
	rep, err := migrate.Verify(ctx, migrate.VerifyOptions{
		DID:           did,
		PLC:           plc.NewClient(c.String("plc-url"), nil),
		Old:           oldC,
		New:           newC,
		NewPDS:        newURL,
		ExpectOldDown: !c.Bool("no-deactivate-old"),
		LeftBehind:    left,
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

// leftBehind reads, from the migration's state dir (dir, or the DID's
// default one when it has a state), the blobs it moved without on request.
func leftBehind(dir, did string) ([]migrate.LeftBlob, error) {
	given := dir != ""
	if !given {
		d, err := migrate.DefaultStateDir(did)
		if err != nil {
			return nil, nil
		}
		dir = d
	}
	st, err := migrate.LoadState(dir)
	switch {
	case err != nil:
		return nil, err
	case st == nil && given:
		return nil, usageError{"no migration state in " + dir, "check --state-dir (it is only needed to know the blobs a migration left behind on request)"}
	case st == nil:
		return nil, nil
	case st.DID != did:
		if given {
			return nil, usageError{fmt.Sprintf("the state dir %s is for %s, not %s", dir, st.DID, did), "check --state-dir and --account"}
		}
		return nil, nil
	}
	return st.Blobs.LeftBehind, nil
}

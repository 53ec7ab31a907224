package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/verify"
)

var cmdVerify = &cli.Command{
	Name:        "verify",
	Usage:       "check a migrated account independently: records, blobs, preferences, DID document, account status",
	Description: withExitCodes("--json prints the report on stdout: every check (ok, warn, skip or fail), the summary and the problems.", "verify"),
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "account", Usage: "handle or DID of the account (a handle is resolved through --old-pds, then --new-pds)", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "old-pds", Usage: "old PDS URL (to compare with)"},
		&cli.StringFlag{Name: "new-pds", Usage: "new PDS URL", EnvVars: []string{"ATMIGRATE_NEW_PDS"}},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.StringFlag{Name: "old-password", Usage: "unlocks a deactivated old repo and the preferences (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_OLD_PASSWORD"}},
		&cli.StringFlag{Name: "auth-factor-token", Usage: "the sign-in code an old PDS with email 2FA asks for"},
		&cli.StringFlag{Name: "new-password", Usage: "unlocks the signing-key, missing-blob and preference checks (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_NEW_PASSWORD"}},
		&cli.StringFlag{Name: "new-auth-factor-token", Usage: "the sign-in code the new PDS asks for, if it has email 2FA on"},
		&cli.IntFlag{Name: "blob-concurrency", Usage: "blobs fetched back from the new PDS at once", Value: transfer.DefaultConcurrency},
		&cli.BoolFlag{Name: "no-deactivate-old", Usage: "the old account is expected to stay active"},
		&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory, for the blobs it left behind on request (default: the DID's, when there is one)"},
		bypassKeyFlag("the new PDS"),
		stallFlag,
	}, networkFlags(false)...),
	Action: runVerify,
}

func runVerify(c *cli.Context) error {
	if c.String("account") == "" {
		return usageError{"--account is required", "pass the handle or DID of the migrated account"}
	}
	newURL := servers.NormalURL(c.String("new-pds"))
	if newURL == "" {
		return usageError{"--new-pds is required", ""}
	}
	oldURL := servers.NormalURL(c.String("old-pds"))
	if n := c.Int("blob-concurrency"); n < 1 || n > 64 {
		return usageError{"--blob-concurrency must be between 1 and 64", ""}
	}
	relays, err := relaysFrom(c)
	if err != nil {
		return err
	}
	appView, err := appViewFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	did, err := accountDID(c, oldURL, newURL)
	if err != nil {
		return err
	}
	// Each call keeps its own retry policy, and retries are not reported:
	// verify prints its report and nothing else.
	srv := servers.New(runClient(c), nil, nil, nil)
	newC := srv.PDS(newURL, bypassHeaders(c))
	if pw := c.String("new-password"); pw != "" {
		if _, err := (identity.Login{DID: did, Password: pw, AuthFactorToken: c.String("new-auth-factor-token"), PasswordChoice: failure.ChoiceNewPassword, FactorChoice: failure.ChoiceNewAuthFactorToken, ReadOnly: true}).Open(ctx, newC); err != nil {
			return err
		}
	}
	var oldC *pds.Client
	if oldURL != "" {
		oldC = srv.PDS(oldURL, nil)
		if pw := c.String("old-password"); pw != "" {
			if _, err := (identity.Login{DID: did, Password: pw, AuthFactorToken: c.String("auth-factor-token"), PasswordChoice: failure.ChoiceOldPassword, ReadOnly: true}).Open(ctx, oldC); err != nil {
				return err
			}
		}
	}
	left, err := leftBehind(c.String("state-dir"), did)
	if err != nil {
		return err
	}
	rep, err := verify.Run(ctx, verify.Options{
		DID:           did,
		Document:      identity.Resolver{Servers: srv, PLC: srv.PLC(c.String("plc-url"))}.State,
		Old:           oldC,
		New:           newC,
		NewPDS:        newURL,
		ExpectOldDown: !c.Bool("no-deactivate-old"),
		LeftBehind:    left,
		Concurrency:   c.Int("blob-concurrency"),
		Relays:        relays,
		AppView:       appView,
		Network:       srv.Network(),
	})
	if err != nil {
		return err
	}
	v := newVerifyView(rep)
	if c.Bool("json") {
		if err := printJSON(v); err != nil {
			return err
		}
	} else {
		v.print(os.Stdout)
	}
	// A warning does not change the exit code, so it is said again on
	// stderr with what it means: the sides differ, and nothing is lost.
	if len(v.Warnings) > 0 {
		fmt.Fprintf(os.Stderr, "atmigrate: verify: %s\n", v.Summary)
		for _, w := range v.Warnings {
			fmt.Fprintf(os.Stderr, "atmigrate: warning: %s\n", w)
		}
	}
	if !v.OK {
		fmt.Fprintf(os.Stderr, "atmigrate: verify found differences:\n  %s\n", strings.Join(v.Problems, "\n  "))
		return silentExit(exitFailed)
	}
	return nil
}

// leftBehind reads, from the migration's state dir (dir, or the DID's
// default one when it has a state), the blobs it moved without on request.
func leftBehind(dir, did string) ([]checkpoint.LeftBlob, error) {
	given := dir != ""
	if !given {
		d, err := checkpoint.DefaultDir(did)
		if err != nil {
			return nil, nil
		}
		dir = d
	}
	st, err := checkpoint.Load(dir)
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

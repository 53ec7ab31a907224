package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

var cmdExport = &cli.Command{
	Name:      "export",
	Usage:     "write a verified, self-contained backup of an account (re-run to update it incrementally)",
	UsageText: "atmigrate export --account HANDLE|DID --out DIR [--old-pds URL] [--plc-url URL]",
	Description: withExitCodes("The password comes from ATMIGRATE_OLD_PASSWORD (or --old-password, or a prompt on a terminal).\n"+
		"Restore with: atmigrate migrate --from-backup DIR --rotation-key KEYFILE --new-pds URL --new-password ...", "export"),
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "account", Usage: "handle or DID of the account to back up", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "out", Usage: "backup directory (created; an existing backup of the same account is updated)"},
		&cli.StringFlag{Name: "old-pds", Usage: "the account's PDS URL (default: resolved from the DID)"},
		&cli.StringFlag{Name: "old-password", Usage: "the account's password (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_OLD_PASSWORD"}},
		&cli.StringFlag{Name: "auth-factor-token", Usage: "the sign-in code a PDS with email 2FA asks for"},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.IntFlag{Name: "blob-concurrency", Usage: "blob downloads at once", Value: transfer.DefaultConcurrency},
		bypassKeyFlag("the account's PDS"),
		stallFlag,
		oldInt("concurrency", "blob-concurrency"),
	},
	Action: runExport,
}

func runExport(c *cli.Context) error {
	o := backup.ExportOptions{
		Account:         c.String("account"),
		Out:             c.String("out"),
		PDS:             c.String("old-pds"),
		Password:        c.String("old-password"),
		AuthFactorToken: c.String("auth-factor-token"),
		PLCURL:          c.String("plc-url"),
		Concurrency:     c.Int("blob-concurrency"),
		Headers:         bypassHeaders(c),
		HTTPClient:      runClient(c),
	}
	if o.Account == "" {
		return usageError{"--account is required", "pass the handle or DID to back up"}
	}
	if o.Out == "" {
		return usageError{"--out is required", "pass the backup directory"}
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return usageError{"--blob-concurrency must be between 1 and 64", ""}
	}
	if o.Password == "" && isTerminal(os.Stdin) {
		pw, err := readSecret("Password for " + o.Account + ": ")
		if err != nil {
			return err
		}
		o.Password = pw
	}
	out := newOutput(os.Stderr)
	o.Progress = out
	man, err := backup.Export(c.Context, o)
	out.Close()
	if err != nil {
		return err
	}
	s := man.Stats
	prefs := fmt.Sprintf("%d preferences", s.Preferences)
	if s.PrefsMissing {
		prefs = "no preferences (could not read them)"
	}
	repoNote := "downloaded"
	if s.RepoUnchanged {
		repoNote = "unchanged, not downloaded"
	}
	fmt.Fprintf(os.Stderr, "atmigrate: backup of %s (%s) in %s: %d records (rev %s, %s), %d blobs (%d fetched, %.1f MB; %d already there), %s, PLC log of %d bytes; took %s\n",
		man.Handle, man.DID, o.Out, man.Repo.Records, man.Repo.Rev, repoNote, man.Blobs.Count, s.BlobsFetched, float64(s.BytesFetched)/1e6, s.BlobsKept,
		prefs, man.Files[backup.PLCLogFile].Size, s.Duration.Round(10e6))
	return nil
}

// backupAccount fills --account from a backup's manifest when it is not
// given, so a restore needs only --from-backup.
func backupAccount(account, dir string) string {
	if account != "" || dir == "" {
		return account
	}
	if m, err := backup.ReadManifest(dir); err == nil {
		return m.DID
	}
	return account
}

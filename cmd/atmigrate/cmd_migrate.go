package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
)

var migrateFlags = append([]cli.Flag{
	&cli.StringFlag{Name: "account", Usage: "handle or DID of the account to move", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
	&cli.StringFlag{Name: "old-password", Usage: "the old account's password (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_OLD_PASSWORD"}},
	&cli.StringFlag{Name: "old-pds", Usage: "old PDS URL (default: resolved from the DID)"},
	&cli.StringFlag{Name: "auth-factor-token", Usage: "the sign-in code an old PDS with email 2FA asks for"},
	&cli.StringFlag{Name: "new-pds", Usage: "new PDS URL", EnvVars: []string{"ATMIGRATE_NEW_PDS"}},
	&cli.StringFlag{Name: "new-handle", Usage: "handle on the new PDS (default: the current handle)"},
	&cli.StringFlag{Name: "new-email", Usage: "email on the new PDS (default: the current email)"},
	&cli.StringFlag{Name: "new-password", Usage: "password on the new PDS (default: the old password; prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_NEW_PASSWORD"}},
	&cli.StringFlag{Name: "invite-code", Usage: "invite code for the new PDS"},
	&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
	&cli.StringFlag{Name: "plc-token", Usage: "the PLC email token (asked for at the end when missing)", EnvVars: []string{"ATMIGRATE_PLC_TOKEN"}},
	&cli.StringFlag{Name: "rotation-key", Usage: "file with your own PLC rotation key: sign the PLC operation locally, no email token (env ATMIGRATE_ROTATION_KEY holds the key itself)"},
	&cli.StringFlag{Name: "rotation-key-type", Usage: "curve of a hex --rotation-key: k256 or p256", Value: "k256"},
	&cli.StringSliceFlag{Name: "add-rotation-key", Usage: "did:key to put at the top of the rotation keys in the same operation (repeatable)"},
	&cli.StringFlag{Name: "state-dir", Usage: "state directory (default: $XDG_STATE_HOME/atmigrate/<did>)"},
	&cli.IntFlag{Name: "blob-concurrency", Usage: "blob transfers at once", Value: transfer.DefaultConcurrency},
	downloadAheadFlag,
	&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
	&cli.BoolFlag{Name: "no-deactivate-old", Usage: "leave the old account active"},
	&cli.BoolFlag{Name: "dry-run", Usage: "check everything a real run would, write nothing anywhere, and report"},
	&cli.BoolFlag{Name: "json", Usage: "with --dry-run: print the report as JSON"},
	&cli.StringFlag{Name: "from-backup", Usage: "restore from a backup directory (atmigrate export) without contacting the old PDS; needs --rotation-key"},
	&cli.BoolFlag{Name: "keep-data", Usage: "keep the downloaded repo and blobs in the state dir (by default each blob file goes once the new PDS has it)"},
	&cli.StringFlag{Name: "disk-budget", Usage: "most blob bytes kept in the state dir at once, like 256MB or 2GB (shrunk to the free space)", Value: "256MB"},
	&cli.BoolFlag{Name: "skip-oversized-blobs", Usage: "move without the blobs larger than the new PDS accepts (listed at the end and by verify) instead of refusing to start"},
	bypassKeyFlag("the new PDS"),
	stallFlag,
	oldInt("concurrency", "blob-concurrency"),
	timelineFlag,
}, networkFlags(true)...)

// bypassKeyFlag is --ratelimit-bypass-key: the rate-limit bypass key of
// the PDS a command writes to or reads from most (whose admin holds it),
// sent to that server only.
func bypassKeyFlag(server string) cli.Flag {
	return &cli.StringFlag{Name: "ratelimit-bypass-key", Usage: "sent to " + server + " as x-ratelimit-bypass (its admin's PDS_RATE_LIMIT_BYPASS_KEY), to that server only (prefer the env var: flags show in the process list)",
		EnvVars: []string{"ATMIGRATE_RATELIMIT_BYPASS_KEY"}}
}

// bypassHeaders is the header that carries --ratelimit-bypass-key.
func bypassHeaders(c *cli.Context) http.Header {
	if key := c.String("ratelimit-bypass-key"); key != "" {
		return http.Header{"X-Ratelimit-Bypass": {key}}
	}
	return nil
}

var cmdMigrate = &cli.Command{
	Name:        "migrate",
	Usage:       "move one account to a new PDS (re-run the same command to resume)",
	Description: withExitCodes("", "migrate"),
	Flags:       migrateFlags,
	Action:      runMigrate,
}

func runMigrate(c *cli.Context) error {
	opts, err := migrateOptions(c)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		return runDryRun(c, opts)
	}
	out := newOutput(os.Stderr)
	opts.Progress = out
	opts.UI = newTerminalUI(out)
	tl := startTimeline(c, opts)
	res, err := migrate.Run(c.Context, *opts)
	out.Close()
	tl.finish(opts, res, err)
	switch {
	case err == nil:
		fmt.Fprintf(os.Stderr, "\natmigrate: %s now lives on %s\n", res.DID, servers.NormalURL(opts.NewPDS))
		printLeftBehind(os.Stderr, res.State)
		printDiskPeak(os.Stderr, res.State)
		printGuard(c.Context, os.Stderr, res.StateDir, res.State)
		return nil
	case isAlreadyMigrated(err):
		fmt.Fprintf(os.Stderr, "atmigrate: %s is already migrated to %s; nothing to do\n", res.DID, res.State.NewPDS)
		return nil
	case isPaused(err) && pauseError(err) != nil:
		pe := pauseError(err)
		fmt.Fprintf(os.Stderr, "\natmigrate: %s\n", pe.Reason)
		fmt.Fprintf(os.Stderr, "atmigrate: hint: %s\n", pe.Hint)
		return silentExit(exitPaused)
	case isPaused(err):
		fmt.Fprintf(os.Stderr, "\natmigrate: all data is on %s; the PLC operation waits for the token %s emailed to the account.\n", opts.NewPDS, res.State.OldPDS)
		printDiskPeak(os.Stderr, res.State)
		fmt.Fprintf(os.Stderr, "atmigrate: hint: run the same command again with --plc-token TOKEN (or ATMIGRATE_PLC_TOKEN=TOKEN); %s (if it has expired, run without it to have a new one emailed)\n", identity.TokenLifeWords)
		return silentExit(exitPaused)
	}
	if res != nil && res.StateDir != "" && !isInput(err) && !isBusy(err) {
		defer fmt.Fprintf(os.Stderr, "atmigrate: state kept in %s (`atmigrate status --state-dir %s`)\n", res.StateDir, res.StateDir)
	}
	return err
}

// migrateOptions turns flags into the core's options. Secrets come from
// flags or env; when the old password is missing and a terminal is there,
// it is asked for without echo.
func migrateOptions(c *cli.Context) (*migrate.Options, error) {
	o := &migrate.Options{
		HTTPClient:      runClient(c),
		Account:         c.String("account"),
		OldPassword:     c.String("old-password"),
		OldPDS:          c.String("old-pds"),
		AuthFactorToken: c.String("auth-factor-token"),
		NewPDS:          c.String("new-pds"),
		NewHandle:       c.String("new-handle"),
		NewEmail:        c.String("new-email"),
		NewPassword:     c.String("new-password"),
		InviteCode:      c.String("invite-code"),
		PLCURL:          c.String("plc-url"),
		PLCToken:        c.String("plc-token"),
		StateDir:        c.String("state-dir"),
		Concurrency:     c.Int("blob-concurrency"),
		DownloadAhead:   c.String("download-ahead"),
		Yes:             c.Bool("yes"),
		NoDeactivateOld: c.Bool("no-deactivate-old"),
		KeepData:        c.Bool("keep-data"),
		AddRotationKeys: c.StringSlice("add-rotation-key"),
		FromBackup:      c.String("from-backup"),

		SkipOversizedBlobs: c.Bool("skip-oversized-blobs"),
		NewPDSHeaders:      bypassHeaders(c),
	}
	o.Account = backupAccount(o.Account, o.FromBackup)
	if o.Account == "" {
		return nil, usageError{"--account is required", "pass the handle or DID to move"}
	}
	if o.NewPDS == "" {
		return nil, usageError{"--new-pds is required", "pass the URL of the PDS to move to"}
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return nil, usageError{"--blob-concurrency must be between 1 and 64", ""}
	}
	if p := downloadAheadProblem(o.DownloadAhead); p != "" {
		return nil, usageError{p, ""}
	}
	for _, k := range o.AddRotationKeys {
		if !strings.HasPrefix(k, "did:key:") {
			return nil, usageError{fmt.Sprintf("--add-rotation-key %q is not a did:key", k), "`atmigrate plc keygen` prints one"}
		}
	}
	budget, err := parseSize(c.String("disk-budget"))
	if err != nil || budget <= 0 {
		return nil, usageError{fmt.Sprintf("--disk-budget %q is not a size", c.String("disk-budget")), "give a size like 256MB, 1GB or 500000000"}
	}
	o.DiskBudget = budget
	if o.Relays, err = relaysFrom(c); err != nil {
		return nil, err
	}
	if o.AppView, err = appViewFrom(c); err != nil {
		return nil, err
	}
	if o.RelayWait, err = relayWaitFrom(c); err != nil {
		return nil, err
	}
	key, err := rotationKey(c)
	if err != nil {
		return nil, err
	}
	o.RotationKey = key
	if o.OldPassword == "" && o.FromBackup == "" && isTerminal(os.Stdin) {
		pw, err := readSecret("Password for " + o.Account + " on the old PDS: ")
		if err != nil {
			return nil, err
		}
		o.OldPassword = pw
	}
	return o, nil
}

// rotationKey reads --rotation-key (a file) or ATMIGRATE_ROTATION_KEY (the
// key itself).
func rotationKey(c *cli.Context) (plcKey, error) {
	typ := c.String("rotation-key-type")
	if typ != "k256" && typ != "p256" {
		return nil, usageError{"--rotation-key-type must be k256 or p256", ""}
	}
	if path := c.String("rotation-key"); path != "" {
		k, err := plc.LoadPrivateKeyFile(path, typ)
		if err != nil {
			return nil, usageError{fmt.Sprintf("read --rotation-key %s: %v", path, err), "the file holds a multibase key (as `atmigrate plc keygen` writes) or a hex key with --rotation-key-type"}
		}
		return k, nil
	}
	if env := os.Getenv("ATMIGRATE_ROTATION_KEY"); env != "" {
		k, err := plc.ParsePrivateKey(env, typ)
		if err != nil {
			return nil, usageError{"ATMIGRATE_ROTATION_KEY does not hold a usable key: " + err.Error(), "multibase, or hex with --rotation-key-type"}
		}
		return k, nil
	}
	return nil, nil
}

// printDiskPeak says how much disk the migration's own files took at
// once, as measured: the figure to size a state dir by next time.
func printDiskPeak(w io.Writer, st *checkpoint.State) {
	if st == nil || st.Disk.PeakBytes <= 0 {
		return
	}
	fmt.Fprintf(w, "atmigrate: disk: the migration's files took at most %.1f MB at once in %s (measured)\n", float64(st.Disk.PeakBytes)/1e6, st.Disk.Dir)
}

// printLeftBehind lists the blobs the migration moved without at the
// user's request, so the final report says what is not on the new PDS.
func printLeftBehind(w io.Writer, st *checkpoint.State) {
	left := st.Blobs.LeftBehind
	if len(left) == 0 {
		return
	}
	fmt.Fprintf(w, "atmigrate: moved without %d blob(s) larger than the new PDS accepts (--skip-oversized-blobs); they stay on the old PDS only:\n", len(left))
	for _, b := range left {
		fmt.Fprintf(w, "  %s  %.1f MB  %s\n", b.CID, float64(b.Size)/1e6, b.MimeType)
	}
}

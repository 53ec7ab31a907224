package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/batch"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

var cmdBatch = &cli.Command{
	Name:  "batch",
	Usage: "migrate many accounts to one new PDS, resumably (for PDS admins)",
	Description: withExitCodes(`Reads an accounts file, CSV with a header row or JSON Lines, with the columns
   account, old_password, new_handle, new_email, new_password, invite_code, rotation_key_file
(only account is required). A password or invite column may hold env:NAME or
file:PATH instead of the secret itself (relative paths are taken from the
accounts file's directory).

Every account runs the same pipeline as 'atmigrate migrate', with its own state
dir DIR/<did>: 'atmigrate status --state-dir DIR/<did>' and 'atmigrate migrate
--state-dir DIR/<did> ...' work on one account. DIR/batch.json tracks the batch;
DIR/report.json and DIR/report.csv hold the summary. Run the same command again
after any stop: migrated accounts are skipped, the others resume from their own
checkpoints.

Statuses: pending, running, migrated, failed (retried on the next run),
failed-permanent (bad input: retried with --retry-failed), awaiting-token (data
on the new PDS, finish with --tokens FILE or --plc-rotation-key).`, "batch"),
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "accounts", Usage: "accounts file (CSV with a header row, or JSON Lines)"},
		&cli.StringFlag{Name: "new-pds", Usage: "new PDS URL", EnvVars: []string{"ATMIGRATE_NEW_PDS"}},
		&cli.StringFlag{Name: "state-dir", Usage: "the batch's state directory (batch.json, reports, one dir per DID)"},
		&cli.IntFlag{Name: "parallel-accounts", Usage: "accounts in their data stages at once; one past them hands its place on (up to twice as many in flight)", Value: batch.DefaultConcurrency},
		&cli.IntFlag{Name: "blob-concurrency", Usage: "blob transfers at once, shared by the accounts in their data stages", Value: transfer.DefaultConcurrency},
		downloadAheadFlag,
		&cli.StringFlag{Name: "old-pds", Usage: "old PDS URL for every account (default: resolved from each DID); handles are resolved through it"},
		&cli.StringFlag{Name: "plc-url", Usage: "PLC directory URL", Value: servers.DefaultPLC, EnvVars: []string{"ATMIGRATE_PLC_URL"}},
		&cli.BoolFlag{Name: "yes", Usage: "confirm every account's PLC operation in advance (required: a batch never prompts)"},
		&cli.StringFlag{Name: "new-pds-admin-password", Usage: "create an invite code per account when the new PDS requires invites (prefer the env var: flags show in the process list)", EnvVars: []string{"ATMIGRATE_NEW_PDS_ADMIN_PASSWORD"}},
		&cli.StringFlag{Name: "plc-rotation-key", Usage: "file with the OLD PDS's PLC rotation key: sign every account's PLC operation locally, no email tokens"},
		&cli.StringFlag{Name: "plc-rotation-key-type", Usage: "curve of a hex --plc-rotation-key: k256 or p256", Value: "k256"},
		&cli.StringFlag{Name: "tokens", Usage: "CSV of account,token: PLC email tokens that finish awaiting-token accounts"},
		bypassKeyFlag("the new PDS"),
		stallFlag,
		&cli.BoolFlag{Name: "skip-oversized-blobs", Usage: "move each account without its blobs larger than the new PDS accepts instead of failing it"},
		&cli.BoolFlag{Name: "retry-failed", Usage: "also run accounts that failed with a non-transient error, and re-request expired tokens"},
		oldInt("concurrency", "parallel-accounts"),
		&cli.Int64Flag{Name: "relay-host-limit", Usage: "the account limit each relay gives the new PDS's host, for the warning before the start (a relay gives a new host 100)", Value: network.DefaultAccountLimit},
	}, networkFlags(true)...),
	Action: runBatch,
	Subcommands: []*cli.Command{{
		Name:  "status",
		Usage: "print a batch's table (from batch.json and each account's state)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Usage: "the batch's state directory"},
			&cli.BoolFlag{Name: "json", Usage: "print the entries as JSON"},
		},
		Action: runBatchStatus,
	}},
}

func runBatch(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usageError{"unexpected argument " + c.Args().First(), "see `atmigrate batch --help`"}
	}
	for _, f := range []string{"accounts", "new-pds", "state-dir"} {
		if c.String(f) == "" {
			return usageError{"--" + f + " is required", "see `atmigrate batch --help`"}
		}
	}
	if !c.Bool("yes") {
		return usageError{"a batch never prompts: pass --yes", "--yes confirms every account's PLC operation in advance; `atmigrate migrate --dry-run` checks one account first"}
	}
	n, blobs := c.Int("parallel-accounts"), c.Int("blob-concurrency")
	if n < 1 || n > 32 {
		return usageError{"--parallel-accounts must be between 1 and 32", ""}
	}
	if blobs < 1 || blobs > 128 {
		return usageError{"--blob-concurrency must be between 1 and 128", ""}
	}
	if p := downloadAheadProblem(c.String("download-ahead")); p != "" {
		return usageError{p, ""}
	}
	if c.Int64("relay-host-limit") < 1 {
		return usageError{"--relay-host-limit must be at least 1", "give the account limit the relay's operator set for the new PDS's host"}
	}
	relays, err := relaysFrom(c)
	if err != nil {
		return err
	}
	appView, err := appViewFrom(c)
	if err != nil {
		return err
	}
	relayWait, err := relayWaitFrom(c)
	if err != nil {
		return err
	}
	af, err := batch.ReadAccountsFile(c.String("accounts"))
	if err != nil {
		return err
	}
	out := newBatchOutput(os.Stderr, af.Accounts)
	if af.InlineSecrets > 0 {
		rows := "rows"
		if af.InlineSecrets == 1 {
			rows = "row"
		}
		out.line("", fmt.Sprintf("warning: %s holds passwords inline (%d %s); prefer env:NAME or file:PATH, and keep the file private (chmod 600)", c.String("accounts"), af.InlineSecrets, rows))
	}
	opts := batch.Options{
		Accounts:            af.Accounts,
		Say:                 say,
		StateDir:            c.String("state-dir"),
		Concurrency:         n,
		BlobConcurrency:     blobs,
		NewPDSAdminPassword: c.String("new-pds-admin-password"),
		RetryFailed:         c.Bool("retry-failed"),
		Base: migrate.Options{
			HTTPClient: runClient(c),
			NewPDS:     c.String("new-pds"),
			OldPDS:     c.String("old-pds"),
			PLCURL:     c.String("plc-url"),
			Yes:        true,
			Relays:     relays,
			AppView:    appView,
			RelayWait:  relayWait,

			DownloadAhead: c.String("download-ahead"),
		},
		RelayHostLimit:  c.Int64("relay-host-limit"),
		Warn:            func(w string) { out.line("", "warning: "+w) },
		AccountProgress: out.account,
		OnUpdate:        out.update,
	}
	if path := c.String("plc-rotation-key"); path != "" {
		typ := c.String("plc-rotation-key-type")
		k, err := plc.LoadPrivateKeyFile(path, typ)
		if err != nil {
			return usageError{fmt.Sprintf("read --plc-rotation-key %s: %v", path, err), "the file holds the old PDS's rotation key, multibase or hex (with --plc-rotation-key-type)"}
		}
		opts.Base.RotationKey = k
	}
	opts.Base.NewPDSHeaders = bypassHeaders(c)
	opts.Base.SkipOversizedBlobs = c.Bool("skip-oversized-blobs")
	if path := c.String("tokens"); path != "" {
		t, err := batch.ReadTokensFile(path)
		if err != nil {
			return err
		}
		opts.Tokens = t
	}

	idx, err := batch.Run(c.Context, opts)
	out.close()
	if idx == nil {
		return err
	}
	// The table covers this run's accounts, in file order.
	var mine []*batch.Entry
	for _, a := range af.Accounts {
		for _, e := range idx.Accounts {
			if strings.EqualFold(e.Account, a.Account) {
				mine = append(mine, e)
				break
			}
		}
	}
	fmt.Fprintln(os.Stdout)
	batch.WriteTable(os.Stdout, mine)
	dir := c.String("state-dir")
	fmt.Fprintf(os.Stderr, "atmigrate: report written to %s and %s\n", filepath.Join(dir, batch.ReportJSON), filepath.Join(dir, batch.ReportCSV))
	if err != nil {
		return err
	}
	mineSum := summaryOf(mine)
	switch {
	case mineSum.Failed+mineSum.FailedPermanent > 0:
		fmt.Fprintf(os.Stderr, "atmigrate: %d of %d accounts failed (see the error column)\n", mineSum.Failed+mineSum.FailedPermanent, mineSum.Total)
		fmt.Fprintln(os.Stderr, "atmigrate: hint: run the same command again to retry `failed` accounts; fix the input of `failed-permanent` ones and add --retry-failed")
		return silentExit(exitFailed)
	case mineSum.AwaitingToken > 0:
		fmt.Fprintf(os.Stderr, "atmigrate: %d accounts await the PLC token emailed to them (data already on the new PDS)\n", mineSum.AwaitingToken)
		fmt.Fprintln(os.Stderr, "atmigrate: hint: collect the tokens into a CSV (account,token) and run the same command with --tokens FILE soon: "+identity.TokenLifeWords)
		return silentExit(exitPaused)
	case mineSum.Pending > 0:
		return silentExit(exitFailed)
	}
	return nil
}

func summaryOf(entries []*batch.Entry) batch.Summary {
	x := batch.Index{Accounts: entries}
	return x.Summary()
}

func runBatchStatus(c *cli.Context) error {
	dir := c.String("state-dir")
	if dir == "" {
		return usageError{"--state-dir is required", "pass the batch's state directory"}
	}
	idx, err := batch.LoadStatus(dir)
	if err != nil {
		return err
	}
	if idx == nil {
		return usageError{"no batch in " + dir, "check --state-dir (it holds " + batch.IndexFile + ")"}
	}
	if c.Bool("json") {
		return printJSON(batch.Report{Generated: time.Now().UTC(), NewPDS: idx.NewPDS, Summary: idx.Summary(), RelayHosts: idx.RelayHosts, Accounts: idx.Accounts})
	}
	fmt.Fprintf(os.Stdout, "batch to %s (%s)\n\n", idx.NewPDS, dir)
	batch.WriteTable(os.Stdout, idx.Accounts)
	return nil
}

// batchOutput prints one line per account event, each prefixed with the
// account, and on a terminal an overall bar: accounts done of total and
// bytes moved.
type batchOutput struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int
	bar   *progressbar.ProgressBar
	total int
	done  int
	bytes int64
	start time.Time
}

func newBatchOutput(w *os.File, accounts []batch.Account) *batchOutput {
	o := &batchOutput{w: w, tty: isTerminal(w), total: len(accounts), start: time.Now()}
	for _, a := range accounts {
		o.width = max(o.width, len(a.Account))
	}
	o.width = min(o.width, 40)
	if o.tty {
		o.bar = progressbar.NewOptions(o.total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("accounts"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return o
}

// line prints msg for account (none: a batch-wide message).
func (o *batchOutput) line(account, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.printLocked(account, msg)
}

func (o *batchOutput) printLocked(account, msg string) {
	if o.bar != nil {
		_ = o.bar.Clear()
	}
	if account == "" {
		fmt.Fprintf(o.w, "%s\n", msg)
	} else {
		fmt.Fprintf(o.w, "%-*s  %s\n", o.width, account, msg)
	}
	o.redraw()
}

func (o *batchOutput) redraw() {
	if o.bar == nil {
		return
	}
	o.bar.Describe(fmt.Sprintf("accounts done, %s moved", units.HumanBytes(o.bytes)))
	_ = o.bar.Set(o.done)
}

func (o *batchOutput) addBytes(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes += n
	if o.bar != nil {
		o.redraw()
	}
}

func (o *batchOutput) update(e batch.Entry, s batch.Summary) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = s.Done()
	var msg string
	switch e.Status {
	case batch.Running:
		if e.Runs > 1 {
			msg = fmt.Sprintf("resuming (run %d)", e.Runs)
		} else {
			msg = "starting"
		}
	case batch.Migrated:
		msg = fmt.Sprintf("migrated in %s: %d records, %d blobs, %s", time.Duration(e.Seconds*float64(time.Second)).Round(100*time.Millisecond), e.Records, e.Blobs, units.HumanBytes(e.Bytes))
	case batch.AwaitingToken:
		msg = "awaiting-token: data on the new PDS; the PLC token was emailed to the account"
	case batch.Pending:
		msg = "stopped (" + e.Error + "); the next run resumes it"
	default:
		msg = fmt.Sprintf("%s at %s: %s", e.Status, orStr(string(e.Stage), "start"), e.Error)
	}
	if !o.tty {
		msg = fmt.Sprintf("%s [%d/%d done]", msg, o.done, o.total)
	}
	o.printLocked(e.Account, msg)
}

func (o *batchOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bar != nil {
		_ = o.bar.Finish()
		o.bar = nil
	}
}

func (o *batchOutput) account(name string) ui.Progress {
	return &accountOutput{o: o, name: name}
}

func orStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// accountOutput is one account's ui.Progress inside a batch: a line
// per stage, warnings and rate limits; bytes go to the overall bar.
type accountOutput struct {
	o    *batchOutput
	name string
}

func (a *accountOutput) StageStart(s stage.Stage) {
	a.o.line(a.name, fmt.Sprintf("[%2d/%d] %s", stageIndex(s), len(stage.All), s))
}
func (a *accountOutput) StageDone(stage.Stage, string) {}
func (a *accountOutput) StageSkip(stage.Stage, string) {}
func (a *accountOutput) Transfer(ui.TransferKind, int, int64) {
}

func (a *accountOutput) Advance(kind ui.TransferKind, _ int, bytes int64) {
	// Bytes written to the new PDS: the repo import and the blobs.
	if kind != ui.TransferRepoDownload && bytes != 0 {
		a.o.addBytes(bytes)
	}
}

func (a *accountOutput) Retry(host, method string, attempt int, wait time.Duration, err error, rateLimited bool) {
	if rateLimited {
		a.o.line(a.name, fmt.Sprintf("rate limited by %s (%s): waiting %s", host, method, wait.Round(time.Second)))
		return
	}
	if attempt >= 2 {
		a.o.line(a.name, fmt.Sprintf("%s at %s failed (attempt %d): %v; retrying", method, host, attempt, err))
	}
}

func (a *accountOutput) Info(msg string) {
	if strings.HasPrefix(msg, "removed ") { // transfer copies cleaned up: noise in a batch
		return
	}
	a.o.line(a.name, say(msg))
}

func (a *accountOutput) Warn(msg string) { a.o.line(a.name, "warning: "+say(msg)) }

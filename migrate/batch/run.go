package batch

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

// batchRun is one run of a batch: the options every account shares, the
// ledger its accounts record themselves in, the HTTP client they share
// (through the pacer) and the invite codes they draw from.
type batchRun struct {
	o      Options
	ledger *ledger
	httpc  *http.Client
	// invites is nil without Options.NewPDSAdminPassword.
	invites *invites
}

// Run migrates every account of o.Accounts to o.Base.NewPDS, at most
// o.Concurrency at a time, each through migrate.Run with its own state dir
// (StateDir/<did>). One account's failure never stops the others: it is
// recorded in batch.json. It returns the index after writing report.json
// and report.csv; the error is for the batch as a whole (bad options, a
// lock held, ctx cancelled), never for one account.
func Run(ctx context.Context, o Options) (*Index, error) {
	if err := o.prepare(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the state dir: %w", err)
	}
	unlock, err := lockDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	l, err := openLedger(o.StateDir, o.Base.NewPDS, o.Accounts)
	if err != nil {
		return nil, err
	}
	l.progress, l.onUpdate = o.AccountProgress, o.OnUpdate

	b := &batchRun{o: o, ledger: l}
	if o.NewPDSAdminPassword != "" {
		b.invites = &invites{adminPassword: o.NewPDSAdminPassword}
	}
	p := newPacer(nil)
	if o.Base.HTTPClient != nil {
		p = newPacer(o.Base.HTTPClient.Transport)
	}
	b.httpc = &http.Client{Transport: p}

	var todo []int
	for i := range o.Accounts {
		if b.shouldRun(o.Accounts[i], l.mine[i]) {
			todo = append(todo, i)
		}
	}
	l.setRelayHosts(b.checkRelayHosts(ctx, len(todo)))
	runAccounts(ctx, todo, o.Concurrency, func(i int, release func()) { b.runOne(ctx, o.Accounts[i], l.mine[i], release) })

	idx, err := l.close()
	if err != nil {
		return idx, err
	}
	return idx, ctx.Err()
}

// shouldRun decides whether this run touches an account.
func (b *batchRun) shouldRun(a Account, e *Entry) bool {
	switch e.Status {
	case Migrated:
		// A complete migration run again repairs what relays show.
		return len(b.o.Base.Relays) > 0 && needsNudge(e)
	case FailedPermanent:
		return b.o.RetryFailed || b.token(a, e) != ""
	case AwaitingToken:
		// Running again without a token would only email the user again.
		return b.o.RetryFailed || b.token(a, e) != "" || b.o.Base.RotationKey != nil || a.RotationKeyFile != ""
	}
	return true
}

func (b *batchRun) token(a Account, e *Entry) string {
	if t := b.o.Tokens[strings.ToLower(a.Account)]; t != "" {
		return t
	}
	if e.DID != "" {
		return b.o.Tokens[strings.ToLower(e.DID)]
	}
	return ""
}

// runOne migrates one account and records the outcome. It calls
// leaveData as the account leaves the data stages (runAccounts).
func (b *batchRun) runOne(ctx context.Context, a Account, e *Entry, leaveData func()) {
	if ctx.Err() != nil {
		return
	}
	var prog ui.Progress = ui.NopProgress{}
	if b.o.AccountProgress != nil {
		prog = b.o.AccountProgress(a.Account)
	}
	tr := &stageTracker{Progress: prog, onTail: leaveData}
	start := time.Now()
	b.ledger.update(e, func() { e.Status, e.Error, e.Hint = Running, "", ""; e.Runs++ })
	res, err := b.migrate(ctx, a, e, tr)
	b.ledger.update(e, func() {
		e.Seconds += time.Since(start).Seconds()
		if s := tr.last(); s != "" {
			e.Stage = s
		}
		if res != nil && res.State != nil {
			countsFrom(e, res.State)
		}
		if res != nil {
			relaysFrom(e, res.Network.Relays)
		}
		recordOutcome(ctx, e, err, b.o.Say)
	})
}

// migrate resolves the account, prepares its options and runs it.
func (b *batchRun) migrate(ctx context.Context, a Account, e *Entry, prog ui.Progress) (*migrate.Result, error) {
	o := b.o.Base
	o.Progress = prog
	o.UI = ui.NoPrompter{}
	o.HTTPClient = b.httpc
	if e.DID == "" {
		did, err := resolveDID(ctx, a.Account, o)
		if err != nil {
			return nil, err
		}
		if err := b.ledger.claimDID(e, did); err != nil {
			return nil, err
		}
	}
	o.Account = e.DID
	o.StateDir = filepath.Join(b.ledger.dir, e.DID)
	o.OldPassword = a.OldPassword
	o.NewHandle = a.NewHandle
	o.NewEmail = a.NewEmail
	o.NewPassword = a.NewPassword
	o.InviteCode = a.InviteCode
	o.PLCToken = b.token(a, e)
	o.Concurrency = max(2, b.o.BlobConcurrency/b.o.Concurrency)
	if a.RotationKeyFile != "" {
		k, err := plc.LoadPrivateKeyFile(a.RotationKeyFile, "k256")
		if err != nil {
			return nil, &failure.InputError{Msg: "cannot read the rotation_key_file " + a.RotationKeyFile, Hint: "the file holds a multibase or hex K-256 key", Err: err}
		}
		o.RotationKey = k
	}
	if o.InviteCode == "" && b.invites != nil {
		code, err := b.invites.code(ctx, o)
		if err != nil {
			return nil, err
		}
		o.InviteCode = code
	}
	return migrate.Run(ctx, o)
}

// resolveDID turns a handle into a DID exactly as a single migration does
// (through --old-pds when given, DNS/HTTPS otherwise).
func resolveDID(ctx context.Context, account string, o migrate.Options) (string, error) {
	o.Account = account
	return migrate.ResolveDID(ctx, o)
}

package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

// Status is where one account of a batch stands.
type Status string

// Batch statuses.
const (
	Pending         Status = "pending"
	Running         Status = "running"
	Migrated        Status = "migrated"
	Failed          Status = "failed"           // retried on the next run
	FailedPermanent Status = "failed-permanent" // bad input: retried with --retry-failed
	AwaitingToken   Status = "awaiting-token"   // data on the new PDS; finish with --tokens
)

// lockName is the batch's lock inside its state dir: one batch at a time.
const lockName = "batch.lock"

// IndexFile is the batch index inside a batch's state dir; each
// account's own checkpoint is <dir>/<did>/state.json.
const IndexFile = "batch.json"

// DefaultConcurrency is the number of accounts in flight at once.
const DefaultConcurrency = 3

// Entry is one account of a batch: what batch.json, the report and
// `atmigrate batch status` show. It holds no secret.
type Entry struct {
	Account string `json:"account"`
	DID     string `json:"did,omitempty"`
	Status  Status `json:"status"`
	// Stage is the last stage the account reached.
	Stage   stage.Stage `json:"stage,omitempty"`
	Error   string      `json:"error,omitempty"`
	Hint    string      `json:"hint,omitempty"`
	Records int         `json:"records"`
	Blobs   int         `json:"blobs"`
	Bytes   int64       `json:"bytes"`
	Seconds float64     `json:"seconds"` // summed over every run
	Runs    int         `json:"runs"`
	// PLCMethod is how the PLC operation was signed: rotation-key or
	// email-token.
	PLCMethod string    `json:"plcMethod,omitempty"`
	Updated   time.Time `json:"updated"`
}

// Index is batch.json: every account the state dir has seen.
type Index struct {
	Version  int      `json:"version"`
	NewPDS   string   `json:"newPds"`
	Accounts []*Entry `json:"accounts"`
}

// Summary counts accounts by status.
type Summary struct {
	Total           int   `json:"total"`
	Migrated        int   `json:"migrated"`
	Failed          int   `json:"failed"`
	FailedPermanent int   `json:"failedPermanent"`
	AwaitingToken   int   `json:"awaitingToken"`
	Pending         int   `json:"pending"`
	Running         int   `json:"running"`
	Bytes           int64 `json:"bytes"`
}

// Done counts the accounts that reached a status of their own (everything
// but pending and running).
func (s Summary) Done() int { return s.Total - s.Pending - s.Running }

// Summary counts entries by status.
func (x *Index) Summary() Summary { return summarize(x.Accounts) }

func summarize(entries []*Entry) Summary {
	s := Summary{Total: len(entries)}
	for _, e := range entries {
		switch e.Status {
		case Migrated:
			s.Migrated++
			s.Bytes += e.Bytes
		case Failed:
			s.Failed++
		case FailedPermanent:
			s.FailedPermanent++
		case AwaitingToken:
			s.AwaitingToken++
		case Running:
			s.Running++
		default:
			s.Pending++
		}
	}
	return s
}

func (x *Index) find(account string) *Entry {
	for _, e := range x.Accounts {
		if strings.EqualFold(e.Account, account) {
			return e
		}
	}
	return nil
}

// LoadIndex reads dir/batch.json; a missing file returns (nil, nil).
func LoadIndex(dir string) (*Index, error) {
	var x Index
	found, err := fsutil.ReadJSON(filepath.Join(dir, IndexFile), &x)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("read the batch index: %w", err)
		}
		return nil, err
	}
	if x.Version > 1 {
		return nil, fmt.Errorf("%s was written by a newer atmigrate", filepath.Join(dir, IndexFile))
	}
	return &x, nil
}

func (x *Index) save(dir string) error {
	x.Version = 1
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, IndexFile), append(b, '\n'), 0o600)
}

// Options configures a batch.
type Options struct {
	Accounts []Account
	// StateDir holds batch.json, the reports and one state dir per DID.
	StateDir string
	// Concurrency is the number of accounts in flight.
	Concurrency int
	// BlobConcurrency is the number of blob transfers shared by the
	// accounts in flight; each gets max(2, BlobConcurrency/Concurrency).
	BlobConcurrency int
	// Base holds what every account shares: NewPDS, OldPDS, PLCURL, Yes,
	// RotationKey (the old PDS's PLC rotation key), NewPDSHeaders, Retry,
	// HTTPClient. Per-account fields are taken from the accounts file.
	Base migrate.Options
	// NewPDSAdminPassword creates one invite code per account when the new
	// PDS requires invites and the row has none.
	NewPDSAdminPassword string
	// Tokens maps an account (as in the file, lower case) or its DID to
	// its PLC email token.
	Tokens map[string]string
	// RetryFailed also runs accounts that failed with a non-transient error.
	RetryFailed bool

	// Say is how the report says the choices the core's words name (see
	// failure.Words); nil leaves them as {choice}.
	Say func(string) string

	// AccountProgress returns where one account's run reports; nil: nowhere.
	AccountProgress func(account string) ui.Progress
	// OnUpdate is called after every status change, with the entry and the
	// batch's counts (of the accounts in this run's file).
	OnUpdate func(e Entry, s Summary)
}

// ErrLocked means another batch is running on the same state dir.
var ErrLocked = errors.New("another batch is running on this state dir")

type batchRun struct {
	o     Options
	dir   string
	idx   *Index
	mine  []*Entry // this run's accounts, in file order
	mu    sync.Mutex
	httpc *http.Client
	pacer *pacer

	inviteOnce     sync.Once
	inviteRequired bool
	inviteErr      error
}

// Run migrates every account of o.Accounts to o.Base.NewPDS, at most
// o.Concurrency at a time, each through migrate.Run with its own state dir
// (StateDir/<did>). One account's failure never stops the others: it is
// recorded in batch.json. It returns the index after writing report.json
// and report.csv; the error is for the batch as a whole (bad options, a
// lock held, ctx cancelled), never for one account.
func Run(ctx context.Context, o Options) (*Index, error) {
	if o.StateDir == "" {
		return nil, &failure.InputError{Msg: "no state dir for the batch", Hint: "pass {state-dir}"}
	}
	if o.Base.NewPDS == "" {
		return nil, &failure.InputError{Msg: "no new PDS given", Hint: "pass {new-pds}"}
	}
	if !o.Base.Yes {
		return nil, &failure.InputError{Msg: "a batch cannot ask for confirmation", Hint: "pass {yes} to confirm every account's PLC operation in advance"}
	}
	if len(o.Accounts) == 0 {
		return nil, &failure.InputError{Msg: "no accounts given", Hint: "check {accounts}"}
	}
	o.Base.NewPDS = servers.NormalURL(o.Base.NewPDS)
	o.Base.OldPDS = servers.NormalURL(o.Base.OldPDS)
	if o.Base.PLCURL == "" {
		o.Base.PLCURL = servers.DefaultPLC
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BlobConcurrency <= 0 {
		o.BlobConcurrency = transfer.DefaultConcurrency
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the state dir: %w", err)
	}
	unlock, held, err := fsutil.TryLock(filepath.Join(o.StateDir, lockName))
	if err != nil {
		return nil, fmt.Errorf("lock the state dir: %w", err)
	}
	if held {
		return nil, &failure.InputError{Msg: ErrLocked.Error() + ": " + o.StateDir, Hint: "wait for it to finish, or stop it (Ctrl-C) first", Err: ErrLocked}
	}
	defer unlock()

	idx, err := LoadIndex(o.StateDir)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		idx = &Index{NewPDS: o.Base.NewPDS}
	}
	if idx.NewPDS != "" && idx.NewPDS != o.Base.NewPDS {
		return nil, &failure.InputError{Msg: fmt.Sprintf("the state dir %s holds a batch to %s, not %s", o.StateDir, idx.NewPDS, o.Base.NewPDS), Hint: "use another {state-dir}"}
	}
	idx.NewPDS = o.Base.NewPDS

	b := &batchRun{o: o, dir: o.StateDir, idx: idx}
	for _, a := range o.Accounts {
		e := idx.find(a.Account)
		if e == nil {
			e = &Entry{Account: a.Account, Status: Pending, Updated: time.Now().UTC()}
			idx.Accounts = append(idx.Accounts, e)
		}
		if e.Status == Running { // a run that was killed
			e.Status, e.Error = Pending, "interrupted"
		}
		b.refreshFromState(e)
		b.mine = append(b.mine, e)
	}
	if err := idx.save(b.dir); err != nil {
		return nil, err
	}

	b.pacer = newPacer(nil)
	if o.Base.HTTPClient != nil {
		b.pacer = newPacer(o.Base.HTTPClient.Transport)
	}
	b.httpc = &http.Client{Transport: b.pacer}

	var todo []int
	for i := range o.Accounts {
		if b.shouldRun(o.Accounts[i], b.mine[i]) {
			todo = append(todo, i)
		}
	}
	workers.Each(ctx, todo, o.Concurrency, func(i int) { b.runOne(ctx, o.Accounts[i], b.mine[i]) })

	b.mu.Lock()
	defer b.mu.Unlock()
	if err := idx.save(b.dir); err != nil {
		return idx, err
	}
	if err := WriteReport(b.dir, idx); err != nil {
		return idx, err
	}
	return idx, ctx.Err()
}

// shouldRun decides whether this run touches an account.
func (b *batchRun) shouldRun(a Account, e *Entry) bool {
	switch e.Status {
	case Migrated:
		return false
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

// update changes an entry under the lock, saves the index and reports.
func (b *batchRun) update(e *Entry, fn func()) {
	b.mu.Lock()
	fn()
	e.Updated = time.Now().UTC()
	if err := b.idx.save(b.dir); err != nil && b.o.AccountProgress != nil {
		b.o.AccountProgress(e.Account).Warn("could not save the batch index: " + err.Error())
	}
	snap, sum := *e, summarize(b.mine)
	b.mu.Unlock()
	if b.o.OnUpdate != nil {
		b.o.OnUpdate(snap, sum)
	}
}

// runOne migrates one account and records the outcome.
func (b *batchRun) runOne(ctx context.Context, a Account, e *Entry) {
	if ctx.Err() != nil {
		return
	}
	var prog ui.Progress = ui.NopProgress{}
	if b.o.AccountProgress != nil {
		prog = b.o.AccountProgress(a.Account)
	}
	tr := &stageTracker{Progress: prog}
	start := time.Now()
	b.update(e, func() { e.Status, e.Error, e.Hint = Running, "", ""; e.Runs++ })
	res, err := b.migrate(ctx, a, e, tr)
	b.update(e, func() {
		e.Seconds += time.Since(start).Seconds()
		if s := tr.last(); s != "" {
			e.Stage = s
		}
		if res != nil && res.State != nil {
			countsFrom(e, res.State)
		}
		b.recordOutcome(ctx, e, err)
	})
}

func (b *batchRun) recordOutcome(ctx context.Context, e *Entry, err error) {
	e.Error, e.Hint = "", ""
	var ie *failure.InputError
	var se *failure.StageError
	if errors.As(err, &se) {
		e.Stage = se.Stage
	}
	switch {
	case err == nil || errors.Is(err, failure.ErrAlreadyMigrated):
		e.Status = Migrated
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		e.Status, e.Error = Pending, "interrupted"
	case errors.Is(err, failure.ErrPaused):
		e.Status, e.Error = AwaitingToken, "waiting for the PLC email token"
		e.Hint = "run the batch again soon with {tokens} FILE (account,token): the tokens are short-lived; or use {plc-rotation-key}"
	case errors.As(err, &ie):
		e.Status, e.Error, e.Hint = FailedPermanent, err.Error(), failure.Hint(err)
	default:
		e.Status, e.Error, e.Hint = Failed, err.Error(), "retried on the next run"
	}
	if b.o.Say != nil {
		e.Error, e.Hint = b.o.Say(e.Error), b.o.Say(e.Hint)
	}
}

// migrate resolves the account, prepares its options and runs it.
func (b *batchRun) migrate(ctx context.Context, a Account, e *Entry, prog ui.Progress) (*migrate.Result, error) {
	o := b.o.Base
	o.Progress = prog
	o.UI = ui.NoPrompter{}
	o.HTTPClient = b.httpc
	if e.DID == "" {
		did, err := b.resolve(ctx, a.Account, o)
		if err != nil {
			return nil, err
		}
		if err := b.claimDID(e, did); err != nil {
			return nil, err
		}
	}
	o.Account = e.DID
	o.StateDir = filepath.Join(b.dir, e.DID)
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
	if o.InviteCode == "" && b.o.NewPDSAdminPassword != "" {
		code, err := b.inviteCode(ctx, o)
		if err != nil {
			return nil, err
		}
		o.InviteCode = code
	}
	return migrate.Run(ctx, o)
}

// claimDID records the account's DID, refusing a DID another row of the
// index already has.
func (b *batchRun) claimDID(e *Entry, did string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.idx.Accounts {
		if x != e && x.DID == did {
			return &failure.InputError{Msg: fmt.Sprintf("%s is %s, the same account as %s", e.Account, did, x.Account), Hint: "list each account once"}
		}
	}
	e.DID = did
	return b.idx.save(b.dir)
}

// resolve turns a handle into a DID exactly as a single migration does
// (through --old-pds when given, DNS/HTTPS otherwise).
func (b *batchRun) resolve(ctx context.Context, account string, o migrate.Options) (string, error) {
	o.Account = account
	return migrate.ResolveDID(ctx, o)
}

// inviteCode creates one invite code on the new PDS when it requires
// invites and the account does not exist there yet.
func (b *batchRun) inviteCode(ctx context.Context, o migrate.Options) (string, error) {
	if st, _ := checkpoint.Load(o.StateDir); st != nil && (st.AccountCreated || st.Completed) {
		return "", nil
	}
	c := servers.New(o.HTTPClient, o.Retry, o.Requests, o.Progress).PDS(o.NewPDS, o.NewPDSHeaders)
	b.inviteOnce.Do(func() {
		info, err := c.DescribeServer(ctx)
		if err != nil {
			b.inviteErr = fmt.Errorf("describe %s: %w", o.NewPDS, err)
			return
		}
		b.inviteRequired = info.InviteCodeRequired
	})
	if b.inviteErr != nil {
		return "", b.inviteErr
	}
	if !b.inviteRequired {
		return "", nil
	}
	code, err := c.CreateInviteCode(ctx, b.o.NewPDSAdminPassword, 1)
	if err != nil {
		if pds.IsTransient(err) {
			return "", fmt.Errorf("create an invite code on %s: %w", o.NewPDS, err)
		}
		return "", &failure.InputError{Msg: "create an invite code on " + o.NewPDS, Hint: "check {new-pds-admin-password}", Err: err}
	}
	return code, nil
}

// refreshFromState takes the counts (and a completion by a single-account
// run) from the account's own state file.
func (b *batchRun) refreshFromState(e *Entry) { refreshEntry(b.dir, e) }

func refreshEntry(dir string, e *Entry) {
	if e.DID == "" {
		return
	}
	st, err := checkpoint.Load(filepath.Join(dir, e.DID))
	if err != nil || st == nil {
		return
	}
	countsFrom(e, st)
	if st.Completed && e.Status != Migrated {
		e.Status, e.Error, e.Hint = Migrated, "", ""
	}
}

func countsFrom(e *Entry, st *checkpoint.State) {
	e.Records = st.Repo.Records
	e.Blobs = st.Blobs.Total
	e.Bytes = st.Repo.Bytes + st.Blobs.TotalBytes
	if st.PLC.Method != "" {
		e.PLCMethod = st.PLC.Method
	}
}

// stageTracker remembers the last stage an account started.
type stageTracker struct {
	ui.Progress
	mu    sync.Mutex
	stage stage.Stage
}

func (t *stageTracker) StageStart(s stage.Stage) {
	t.mu.Lock()
	t.stage = s
	t.mu.Unlock()
	t.Progress.StageStart(s)
}

func (t *stageTracker) last() stage.Stage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stage
}

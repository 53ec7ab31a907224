package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// BatchStatus is where one account of a batch stands.
type BatchStatus string

// Batch statuses.
const (
	BatchPending         BatchStatus = "pending"
	BatchRunning         BatchStatus = "running"
	BatchMigrated        BatchStatus = "migrated"
	BatchFailed          BatchStatus = "failed"           // retried on the next run
	BatchFailedPermanent BatchStatus = "failed-permanent" // bad input: retried with --retry-failed
	BatchAwaitingToken   BatchStatus = "awaiting-token"   // data on the new PDS; finish with --tokens
)

// BatchIndexFile is the batch index inside a batch's state dir; each
// account's own checkpoint is <dir>/<did>/state.json.
const BatchIndexFile = "batch.json"

// DefaultBatchConcurrency is the number of accounts in flight at once.
const DefaultBatchConcurrency = 3

// BatchEntry is one account of a batch: what batch.json, the report and
// `atmigrate batch status` show. It holds no secret.
type BatchEntry struct {
	Account string      `json:"account"`
	DID     string      `json:"did,omitempty"`
	Status  BatchStatus `json:"status"`
	// Stage is the last stage the account reached.
	Stage   Stage   `json:"stage,omitempty"`
	Error   string  `json:"error,omitempty"`
	Hint    string  `json:"hint,omitempty"`
	Records int     `json:"records"`
	Blobs   int     `json:"blobs"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"` // summed over every run
	Runs    int     `json:"runs"`
	// PLCMethod is how the PLC operation was signed: rotation-key or
	// email-token.
	PLCMethod string    `json:"plcMethod,omitempty"`
	Updated   time.Time `json:"updated"`
}

// BatchIndex is batch.json: every account the state dir has seen.
type BatchIndex struct {
	Version  int           `json:"version"`
	NewPDS   string        `json:"newPds"`
	Accounts []*BatchEntry `json:"accounts"`
}

// BatchSummary counts accounts by status.
type BatchSummary struct {
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
func (s BatchSummary) Done() int { return s.Total - s.Pending - s.Running }

// Summary counts entries by status.
func (x *BatchIndex) Summary() BatchSummary { return summarize(x.Accounts) }

func summarize(entries []*BatchEntry) BatchSummary {
	s := BatchSummary{Total: len(entries)}
	for _, e := range entries {
		switch e.Status {
		case BatchMigrated:
			s.Migrated++
			s.Bytes += e.Bytes
		case BatchFailed:
			s.Failed++
		case BatchFailedPermanent:
			s.FailedPermanent++
		case BatchAwaitingToken:
			s.AwaitingToken++
		case BatchRunning:
			s.Running++
		default:
			s.Pending++
		}
	}
	return s
}

func (x *BatchIndex) find(account string) *BatchEntry {
	for _, e := range x.Accounts {
		if strings.EqualFold(e.Account, account) {
			return e
		}
	}
	return nil
}

// LoadBatchIndex reads dir/batch.json; a missing file returns (nil, nil).
func LoadBatchIndex(dir string) (*BatchIndex, error) {
	b, err := os.ReadFile(filepath.Join(dir, BatchIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the batch index: %w", err)
	}
	var x BatchIndex
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, BatchIndexFile), err)
	}
	if x.Version > 1 {
		return nil, fmt.Errorf("%s was written by a newer atmigrate", filepath.Join(dir, BatchIndexFile))
	}
	return &x, nil
}

func (x *BatchIndex) save(dir string) error {
	x.Version = 1
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, BatchIndexFile), append(b, '\n'), 0o600)
}

// BatchOptions configures a batch.
type BatchOptions struct {
	Accounts []BatchAccount
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
	Base Options
	// NewPDSAdminPassword creates one invite code per account when the new
	// PDS requires invites and the row has none.
	NewPDSAdminPassword string
	// Tokens maps an account (as in the file, lower case) or its DID to
	// its PLC email token.
	Tokens map[string]string
	// RetryFailed also runs accounts that failed with a non-transient error.
	RetryFailed bool

	// AccountProgress returns where one account's run reports; nil: nowhere.
	AccountProgress func(account string) Progress
	// OnUpdate is called after every status change, with the entry and the
	// batch's counts (of the accounts in this run's file).
	OnUpdate func(e BatchEntry, s BatchSummary)
}

// ErrBatchLocked means another batch is running on the same state dir.
var ErrBatchLocked = errors.New("another batch is running on this state dir")

type batchRun struct {
	o     BatchOptions
	dir   string
	idx   *BatchIndex
	mine  []*BatchEntry // this run's accounts, in file order
	mu    sync.Mutex
	httpc *http.Client
	pacer *pacer

	inviteOnce     sync.Once
	inviteRequired bool
	inviteErr      error
}

// RunBatch migrates every account of o.Accounts to o.Base.NewPDS, at most
// o.Concurrency at a time, each through Run with its own state dir
// (StateDir/<did>). One account's failure never stops the others: it is
// recorded in batch.json. It returns the index after writing report.json
// and report.csv; the error is for the batch as a whole (bad options, a
// lock held, ctx cancelled), never for one account.
func RunBatch(ctx context.Context, o BatchOptions) (*BatchIndex, error) {
	if o.StateDir == "" {
		return nil, &InputError{Msg: "no state dir for the batch", Hint: "pass --state-dir"}
	}
	if o.Base.NewPDS == "" {
		return nil, &InputError{Msg: "no new PDS given", Hint: "pass --new-pds"}
	}
	if !o.Base.Yes {
		return nil, &InputError{Msg: "a batch cannot ask for confirmation", Hint: "pass --yes to confirm every account's PLC operation in advance"}
	}
	if len(o.Accounts) == 0 {
		return nil, &InputError{Msg: "no accounts given", Hint: "check --accounts"}
	}
	o.Base.NewPDS = strings.TrimRight(o.Base.NewPDS, "/")
	o.Base.OldPDS = strings.TrimRight(o.Base.OldPDS, "/")
	if o.Base.PLCURL == "" {
		o.Base.PLCURL = "https://plc.directory"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultBatchConcurrency
	}
	if o.BlobConcurrency <= 0 {
		o.BlobConcurrency = DefaultConcurrency
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the state dir: %w", err)
	}
	unlock, held, err := lockFile(filepath.Join(o.StateDir, "batch.lock"))
	if err != nil {
		return nil, fmt.Errorf("lock the state dir: %w", err)
	}
	if held {
		return nil, &InputError{Msg: ErrBatchLocked.Error() + ": " + o.StateDir, Hint: "wait for it to finish, or stop it (Ctrl-C) first", Err: ErrBatchLocked}
	}
	defer unlock()

	idx, err := LoadBatchIndex(o.StateDir)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		idx = &BatchIndex{NewPDS: o.Base.NewPDS}
	}
	if idx.NewPDS != "" && idx.NewPDS != o.Base.NewPDS {
		return nil, &InputError{Msg: fmt.Sprintf("the state dir %s holds a batch to %s, not %s", o.StateDir, idx.NewPDS, o.Base.NewPDS), Hint: "use another --state-dir"}
	}
	idx.NewPDS = o.Base.NewPDS

	b := &batchRun{o: o, dir: o.StateDir, idx: idx}
	for _, a := range o.Accounts {
		e := idx.find(a.Account)
		if e == nil {
			e = &BatchEntry{Account: a.Account, Status: BatchPending, Updated: time.Now().UTC()}
			idx.Accounts = append(idx.Accounts, e)
		}
		if e.Status == BatchRunning { // a run that was killed
			e.Status, e.Error = BatchPending, "interrupted"
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
	eachConcurrently(ctx, todo, o.Concurrency, func(i int) { b.runOne(ctx, o.Accounts[i], b.mine[i]) })

	b.mu.Lock()
	defer b.mu.Unlock()
	if err := idx.save(b.dir); err != nil {
		return idx, err
	}
	if err := WriteBatchReport(b.dir, idx); err != nil {
		return idx, err
	}
	return idx, ctx.Err()
}

// shouldRun decides whether this run touches an account.
func (b *batchRun) shouldRun(a BatchAccount, e *BatchEntry) bool {
	switch e.Status {
	case BatchMigrated:
		return false
	case BatchFailedPermanent:
		return b.o.RetryFailed || b.token(a, e) != ""
	case BatchAwaitingToken:
		// Running again without a token would only email the user again.
		return b.o.RetryFailed || b.token(a, e) != "" || b.o.Base.RotationKey != nil || a.RotationKeyFile != ""
	}
	return true
}

func (b *batchRun) token(a BatchAccount, e *BatchEntry) string {
	if t := b.o.Tokens[strings.ToLower(a.Account)]; t != "" {
		return t
	}
	if e.DID != "" {
		return b.o.Tokens[strings.ToLower(e.DID)]
	}
	return ""
}

// update changes an entry under the lock, saves the index and reports.
func (b *batchRun) update(e *BatchEntry, fn func()) {
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
func (b *batchRun) runOne(ctx context.Context, a BatchAccount, e *BatchEntry) {
	if ctx.Err() != nil {
		return
	}
	var prog Progress = NopProgress{}
	if b.o.AccountProgress != nil {
		prog = b.o.AccountProgress(a.Account)
	}
	tr := &stageTracker{Progress: prog}
	start := time.Now()
	b.update(e, func() { e.Status, e.Error, e.Hint = BatchRunning, "", ""; e.Runs++ })
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

func (b *batchRun) recordOutcome(ctx context.Context, e *BatchEntry, err error) {
	e.Error, e.Hint = "", ""
	var ie *InputError
	var se *StageError
	if errors.As(err, &se) {
		e.Stage = se.Stage
	}
	switch {
	case err == nil || errors.Is(err, ErrAlreadyMigrated):
		e.Status = BatchMigrated
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		e.Status, e.Error = BatchPending, "interrupted"
	case errors.Is(err, ErrPaused):
		e.Status, e.Error = BatchAwaitingToken, "waiting for the PLC email token"
		e.Hint = "run the batch again soon with --tokens FILE (account,token): the tokens are short-lived; or use --plc-rotation-key"
	case errors.As(err, &ie):
		e.Status, e.Error, e.Hint = BatchFailedPermanent, err.Error(), Hint(err)
	default:
		e.Status, e.Error, e.Hint = BatchFailed, err.Error(), "retried on the next run"
	}
}

// migrate resolves the account, prepares its options and runs it.
func (b *batchRun) migrate(ctx context.Context, a BatchAccount, e *BatchEntry, prog Progress) (*Result, error) {
	o := b.o.Base
	o.Progress = prog
	o.UI = NoUI{}
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
			return nil, &InputError{Msg: "cannot read the rotation_key_file " + a.RotationKeyFile, Hint: "the file holds a multibase or hex K-256 key", Err: err}
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
	return Run(ctx, o)
}

// claimDID records the account's DID, refusing a DID another row of the
// index already has.
func (b *batchRun) claimDID(e *BatchEntry, did string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.idx.Accounts {
		if x != e && x.DID == did {
			return &InputError{Msg: fmt.Sprintf("%s is %s, the same account as %s", e.Account, did, x.Account), Hint: "list each account once"}
		}
	}
	e.DID = did
	return b.idx.save(b.dir)
}

// resolve turns a handle into a DID exactly as a single migration does
// (through --old-pds when given, DNS/HTTPS otherwise).
func (b *batchRun) resolve(ctx context.Context, account string, o Options) (string, error) {
	o.Account = account
	o.defaults()
	m := &Migrator{opts: o, prog: o.Progress, ui: o.UI}
	return m.resolveDID(ctx)
}

// inviteCode creates one invite code on the new PDS when it requires
// invites and the account does not exist there yet.
func (b *batchRun) inviteCode(ctx context.Context, o Options) (string, error) {
	if st, _ := LoadState(o.StateDir); st != nil && (st.AccountCreated || st.Completed) {
		return "", nil
	}
	m := &Migrator{opts: o, prog: o.Progress}
	c := pds.New(o.NewPDS, m.pdsOptions(o.NewPDSHeaders))
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
		return "", &InputError{Msg: "create an invite code on " + o.NewPDS, Hint: "check --new-pds-admin-password", Err: err}
	}
	return code, nil
}

// refreshFromState takes the counts (and a completion by a single-account
// run) from the account's own state file.
func (b *batchRun) refreshFromState(e *BatchEntry) { refreshEntry(b.dir, e) }

func refreshEntry(dir string, e *BatchEntry) {
	if e.DID == "" {
		return
	}
	st, err := LoadState(filepath.Join(dir, e.DID))
	if err != nil || st == nil {
		return
	}
	countsFrom(e, st)
	if st.Completed && e.Status != BatchMigrated {
		e.Status, e.Error, e.Hint = BatchMigrated, "", ""
	}
}

func countsFrom(e *BatchEntry, st *State) {
	e.Records = st.Repo.Records
	e.Blobs = st.Blobs.Total
	e.Bytes = st.Repo.Bytes + st.Blobs.TotalBytes
	if st.PLC.Method != "" {
		e.PLCMethod = st.PLC.Method
	}
}

// stageTracker remembers the last stage an account started.
type stageTracker struct {
	Progress
	mu    sync.Mutex
	stage Stage
}

func (t *stageTracker) StageStart(s Stage) {
	t.mu.Lock()
	t.stage = s
	t.mu.Unlock()
	t.Progress.StageStart(s)
}

func (t *stageTracker) last() Stage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stage
}

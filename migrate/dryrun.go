package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// DryRunReport is everything a real run would check, found without writing
// anything: no account, no import, no email token, no PLC operation, no
// state directory.
type DryRunReport struct {
	DID       string `json:"did"`
	Handle    string `json:"handle"`
	OldPDS    string `json:"oldPds"`
	NewPDS    string `json:"newPds"`
	NewHandle string `json:"newHandle"`

	Login struct {
		OK               bool   `json:"ok"`
		AuthFactorNeeded bool   `json:"authFactorNeeded"`
		Email            string `json:"email,omitempty"`
		Active           bool   `json:"active"`
	} `json:"login"`

	Server struct {
		DID                string   `json:"did,omitempty"`
		InviteCodeRequired bool     `json:"inviteCodeRequired"`
		HandleDomains      []string `json:"handleDomains,omitempty"`
		HandleAllowed      bool     `json:"handleAllowed"`
		HandleFree         bool     `json:"handleFree"`
		AccountExists      bool     `json:"accountExists"`
	} `json:"newPdsInfo"`

	Repo struct {
		Bytes   int64  `json:"bytes"`
		Records int    `json:"records"`
		Rev     string `json:"rev,omitempty"`
		Commit  string `json:"commit,omitempty"`
	} `json:"repo"`

	Blobs struct {
		Count   int   `json:"count"`
		Bytes   int64 `json:"bytes"`
		Largest int64 `json:"largest"`
	} `json:"blobs"`

	PLC struct {
		Method           string   `json:"method"` // "email-token" or "rotation-key"
		RotationKey      string   `json:"rotationKey,omitempty"`
		RotationKeyValid *bool    `json:"rotationKeyValid,omitempty"`
		CurrentKeys      []string `json:"currentRotationKeys"`
		OpsLastHour      int      `json:"opsLastHour"`
		OpsLastDay       int      `json:"opsLastDay"`
		Diff             string   `json:"diff,omitempty"`
	} `json:"plc"`

	// Plan is what a real run would do now, stage by stage: the same
	// observation and the same planner as a real run.
	Plan []plan.Step `json:"plan"`
	// Checked is true when the login, new PDS, repo and PLC checks ran;
	// false when the plan alone answers (refused, or the DID already
	// switched): the fields below are then not checked, not false.
	Checked bool `json:"checked"`

	// Disk is what the state dir's disk must hold: the repo, the blobs
	// the uploads have in flight, and the prefetch window.
	Disk struct {
		Dir    string `json:"dir"`
		Free   int64  `json:"free"`
		Floor  int64  `json:"floor"`  // repo + --blob-concurrency largest blobs
		Window int64  `json:"window"` // prefetch, after --disk-budget and free space
		Peak   int64  `json:"peak"`   // the most a real run would hold at once
	} `json:"disk"`

	// Limits are the new PDS's size limits against the export.
	Limits DryRunLimits `json:"limits"`
	// RateLimits is how many rate-limited calls the move needs against
	// what the new PDS's answers said of its limits.
	RateLimits DryRunRateLimits `json:"rateLimits"`

	EstimateSeconds float64  `json:"estimateSeconds"`
	Warnings        []string `json:"warnings,omitempty"`
	Blockers        []string `json:"blockers,omitempty"`
	// Unknown is what the dry run could not learn (a server's answer that
	// said nothing either way); a real run finds out as it goes.
	Unknown []string `json:"unknown,omitempty"`
	// Backup describes the backup a restore (--from-backup) would use,
	// verified as the restore does; the old PDS is then not contacted.
	Backup string `json:"backup,omitempty"`
}

// OK reports whether a real run should succeed.
func (r *DryRunReport) OK() bool { return len(r.Blockers) == 0 }

func (r *DryRunReport) block(format string, args ...any) {
	r.Blockers = append(r.Blockers, fmt.Sprintf(format, args...))
}

func (r *DryRunReport) unknown(format string, args ...any) {
	r.Unknown = append(r.Unknown, fmt.Sprintf(format, args...))
}

func (r *DryRunReport) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// DryRun checks a migration without changing anything anywhere. The error
// is for failures that stop the checking itself (a bad --account); what
// would stop a real run is in the report's Blockers. It is a migration
// that never acts: the same resolution, observation and planner, the same
// login (or the same opening of the backup), the same preflight checks,
// limits and PLC intent as Run, with what they would warn about collected
// in the report.
func DryRun(ctx context.Context, opts Options) (*DryRunReport, error) {
	m := newMigrator(opts)
	r := &DryRunReport{NewPDS: m.opts.NewPDS}
	m.prog, m.ui = reportProgress{r: r}, ui.NoPrompter{}

	did, err := m.ids.Resolve(ctx, m.opts.Account)
	if err != nil {
		return nil, err
	}
	m.did, r.DID = did, did
	if m.st, err = dryRunState(did, m.opts); err != nil {
		return nil, err
	}
	// The same observation and the same planner as a real run.
	w, err := m.observe(ctx)
	if err != nil {
		return nil, err
	}
	if m.st.Handle == "" {
		m.st.Handle = m.plcState.Handle()
	}
	r.Handle = m.st.Handle
	m.world = w
	plan := plan.Decide(m.invocation(), w, m.st)
	m.plan = plan
	r.Plan = plan.Steps
	for i, s := range r.Plan {
		if s.Run && m.st.Done(s.Stage) {
			r.Plan[i].Reason = "done by an earlier run: re-checked against the servers"
		}
	}
	r.OldPDS = cmp.Or(m.st.OldPDS, w.Old.URL)
	switch {
	case plan.Refusal != nil:
		r.block("%v%s", plan.Refusal, hintSuffix(plan.Refusal))
		return r, nil
	case plan.Done:
		r.warn("this migration is complete: a real run changes nothing")
		return r, nil
	case w.Switched:
		// The data and the identity are done: what is left needs no
		// download, no login check beyond the one the plan names.
		r.warn("the DID already points at %s: a real run only finishes the steps listed in the plan", m.opts.NewPDS)
		if plan.Pending != nil {
			r.warn("%v%s", plan.Pending, hintSuffix(plan.Pending))
		}
		return r, nil
	}
	m.st.OldPDS = r.OldPDS
	r.Checked = true

	if m.opts.FromBackup != "" {
		dryRunBackup(ctx, m, r)
	} else {
		dryRunLogin(ctx, m, r)
	}
	dryRunServer(ctx, m, r)
	if m.src != nil {
		dryRunRepo(ctx, m, r)
		dryRunLimits(m, r)
	}
	dryRunPLC(ctx, m, r)
	r.EstimateSeconds = estimateSeconds(r.Repo.Bytes, r.Blobs.Bytes)
	return r, nil
}

// reportProgress turns what the shared code would warn a user about into
// the dry run's warnings; the rest of its progress is not shown.
type reportProgress struct {
	ui.NopProgress
	r *DryRunReport
}

func (p reportProgress) Warn(msg string) { p.r.warn("%s", msg) }

// dryRunLogin is the login stage's own login, with what it learns kept.
func dryRunLogin(ctx context.Context, m *Migrator, r *DryRunReport) {
	sess, err := m.logInOld(ctx)
	if err != nil {
		var ie *failure.InputError
		r.Login.AuthFactorNeeded = errors.As(err, &ie) && ie.Code == failure.CodeSignInCode
		r.block("login: %v%s", err, hintSuffix(err))
		return
	}
	r.Login.OK, r.Login.Email, r.Login.Active = true, sess.Email, sess.Active
	r.Handle = m.st.Handle
	m.learnOldPDSKeys(ctx)
}

// dryRunBackup opens and verifies the backup as a restore does; the old
// PDS is not contacted.
func dryRunBackup(ctx context.Context, m *Migrator, r *DryRunReport) {
	note, err := m.openBackupSource(ctx)
	if err != nil {
		r.block("backup: %v%s", err, hintSuffix(err))
		return
	}
	r.Backup = note
	r.Handle = m.st.Handle
}

// dryRunServer runs the preflight's checks against what the observation
// learned of the new PDS, reporting every problem.
func dryRunServer(ctx context.Context, m *Migrator, r *DryRunReport) {
	o := &m.opts
	m.chooseNewHandle()
	r.NewHandle = m.st.NewHandle
	info := m.newInfo
	if info == nil {
		r.block("%s does not answer as a PDS", o.NewPDS)
		return
	}
	m.new = m.srv.PDS(o.NewPDS, o.NewPDSHeaders)
	r.Server.DID = info.DID
	r.Server.InviteCodeRequired = info.InviteCodeRequired
	r.Server.HandleDomains = info.AvailableUserDomains
	exists := m.world.New.HasAccount
	if exists {
		r.Server.AccountExists = true
		r.warn("an account for this DID already exists on %s: a real run takes it over (it needs the password that account has)", o.NewPDS)
	}
	if m.world.New.AccountUnknown() {
		r.unknown("whether %s already hosts the account: it answered %s (a real run creates the account, and an existing one is taken over)", o.NewPDS, m.world.New.AccountErr)
	}
	pc := m.preflightChecks(ctx, info, !exists && !m.st.AccountCreated)
	r.Server.HandleAllowed, r.Server.HandleFree = pc.HandleAllowed, pc.HandleFree
	for _, p := range pc.Problems {
		r.block("%v%s", p, hintSuffix(p))
	}
	if pc.HandleUnknown != nil {
		r.unknown("whether the handle %s is free on %s: resolveHandle answered %v (createAccount refuses a taken handle)", r.NewHandle, o.NewPDS, pc.HandleUnknown)
	}
}

// dryRunRepo downloads the repo to a temporary file (removed at once) to
// count what would move and to check that it verifies.
func dryRunRepo(ctx context.Context, m *Migrator, r *DryRunReport) {
	tmp, err := os.MkdirTemp("", "atmigrate-dryrun-")
	if err != nil {
		r.block("create a temporary directory: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	vo, keys, err := m.repoVerifyOptions(false)
	if err != nil {
		r.block("%v", err)
		return
	}
	sum, err := m.exportAndVerify(ctx, "", filepath.Join(tmp, "repo.car"), vo)
	if err != nil {
		r.block("the repo: %v", err)
		return
	}
	if note := identity.EarlierKeyNote(keys, sum, m.src.Name()); note != "" {
		r.warn("%s", note)
	}
	r.Repo.Bytes, r.Repo.Records, r.Repo.Rev, r.Repo.Commit = sum.Bytes, sum.Records, sum.Rev, sum.Commit
	m.st.Repo.Bytes = sum.Bytes
	_ = m.blobList().Set(sum.Blobs) // in memory: the dry run has no state dir
	dryRunDisk(m, r, sum)
	r.Blobs.Count = len(sum.Blobs)
	for _, b := range sum.Blobs {
		if b.Size > 0 {
			r.Blobs.Bytes += b.Size
		}
		if b.Size > r.Blobs.Largest {
			r.Blobs.Largest = b.Size
		}
	}
}

// dryRunPLC reports the DID's keys and recent operations, how a real run
// would sign, and its operation as identity.Target.Preview builds and
// checks it.
func dryRunPLC(ctx context.Context, m *Migrator, r *DryRunReport) {
	st := m.plcState
	r.PLC.CurrentKeys = st.RotationKeys()
	now := time.Now()
	r.PLC.OpsLastHour, r.PLC.OpsLastDay = st.OpsSince(now.Add(-time.Hour)), st.OpsSince(now.Add(-24*time.Hour))
	r.PLC.Method = "email-token"
	if identity.IsDIDWeb(m.did) {
		r.PLC.Method = "did-web"
		r.warn("%s is a did:web identity: the run writes the did.json to publish and waits for it before switching", m.did)
		return
	}
	if m.opts.RotationKey != nil {
		r.PLC.Method = "rotation-key"
		key, err := plc.DIDKey(m.opts.RotationKey)
		valid := err == nil && st.HasRotationKey(key)
		r.PLC.RotationKey, r.PLC.RotationKeyValid = key, &valid // a problem is a preflight blocker
	} else if m.old != nil && r.Login.Email == "" {
		r.block("the email token needs an email address on the old account")
	}
	p, err := m.identityTarget().Preview(st, now)
	if err != nil {
		r.block("%v", err)
		return
	}
	if p.Refused != nil {
		r.block("the PLC operation would fail its checks: %v", p.Refused)
	}
	for _, w := range p.Warnings {
		r.warn("PLC operation: %s", w)
	}
	r.PLC.Diff = p.Diff
}

// estimateSeconds is a rough time for the real run, from the benchmark on
// a 2-core machine against the reference PDS: repos import at about
// 5 MB/s, blobs move at about 12 MB/s, plus a few seconds of round trips.
// Real servers over the internet are usually slower.
func estimateSeconds(repoBytes, blobBytes int64) float64 {
	return 3 + float64(repoBytes)/5e6 + float64(blobBytes)/12e6
}

// dryRunState is the state a real run would start from, read without
// taking the state dir's lock or writing to it.
func dryRunState(did string, o Options) (*checkpoint.State, error) {
	dir := o.StateDir
	if dir == "" {
		dir, _ = checkpoint.DefaultDir(did)
	}
	if dir == "" {
		return checkpoint.Fresh(o.target(did)), nil
	}
	st, _, err := checkpoint.LoadForRun(dir, o.target(did))
	return st, err
}

func hintSuffix(err error) string {
	if h := failure.Hint(err); h != "" {
		return " (" + h + ")"
	}
	return ""
}

// dryRunDisk works out the disk a real run needs, from the same floor and
// window as the real run, measured where its state dir would be.
func dryRunDisk(m *Migrator, r *DryRunReport, sum *repo.Summary) {
	dir := m.opts.StateDir
	if dir == "" {
		dir, _ = checkpoint.DefaultDir(m.did)
	}
	for d := dir; d != "" && d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			dir = d
			break
		}
	}
	r.Disk.Dir = dir
	free, ok := fsutil.FreeBytes(dir)
	if !ok {
		return
	}
	var blobBytes int64
	for _, b := range sum.Blobs {
		blobBytes += max(b.Size, 0)
	}
	floor := transfer.DiskFloor(m.sizeLimits().Movable(sum.Blobs), m.opts.Concurrency)
	r.Disk.Free, r.Disk.Floor = free, sum.Bytes+floor
	r.Disk.Window = max(min(m.opts.DiskBudget, free-sum.Bytes-floor), 0)
	r.Disk.Peak = sum.Bytes + min(blobBytes, r.Disk.Window+floor)
	if m.opts.KeepData {
		r.Disk.Peak = sum.Bytes + blobBytes
	}
	if free < r.Disk.Floor {
		r.block("the disk holding %s has %.1f MB free; a run needs at least %.1f MB there (the repo and {blob-concurrency} %d of the largest blobs)",
			dir, units.MB(free), units.MB(r.Disk.Floor), m.opts.Concurrency)
	} else if m.opts.KeepData && free < r.Disk.Peak {
		r.block("the disk holding %s has %.1f MB free; with {keep-data} a run keeps every blob there, %.1f MB in all", dir, units.MB(free), units.MB(r.Disk.Peak))
	}
}

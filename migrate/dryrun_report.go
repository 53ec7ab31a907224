package migrate

import (
	"cmp"
	"errors"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
)

// What the dry run's walk learned, for its report: each part reads what
// the stages found (the session, the new PDS's description, the export,
// the DID's state), and adds what only a forecast can say (the disk a
// run fills, the operation it would sign, the uploads a rate limit
// allows).

// report fills r from the walk that ended with err, and gives the verdict.
func (m *Migrator) report(r *DryRunReport, err error) {
	m.stopErr = err
	m.reportOutcome(r, err)
	if r.Checked = m.plan.Refusal == nil && !m.plan.Done && !m.world.Switched; r.Checked {
		m.reportChecks(r)
	}
	r.judge()
}

// reportOutcome says how the walk ended: the plan, and the stop a real
// run would meet.
func (m *Migrator) reportOutcome(r *DryRunReport, err error) {
	r.DID, r.Handle, r.NewPDS = m.did, m.sd.st.Handle, m.opts.NewPDS
	r.OldPDS, r.NewHandle = cmp.Or(m.sd.st.OldPDS, m.world.Old.URL), m.sd.st.NewHandle
	r.Plan = append([]plan.Step(nil), m.plan.Steps...)
	for i, s := range r.Plan {
		if s.Run && m.sd.st.Done(s.Stage) {
			r.Plan[i].Reason = "done by an earlier run: re-checked against the servers"
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, failure.ErrAlreadyMigrated):
		r.warn("this migration is complete: a real run changes nothing")
	case err == m.plan.Refusal:
		r.block("%v%s", err, hintSuffix(err))
	case err == m.plan.Pending:
		r.warn("%v%s", err, hintSuffix(err))
	default:
		r.StopsAt = m.current
		if m.current == stage.Preflight && len(m.preflight.Problems) > 1 {
			for _, p := range m.preflight.Problems { // every problem, not just the first
				r.block("%v%s", p, hintSuffix(p))
			}
			return
		}
		r.block("%s: %v%s", m.current, err, hintSuffix(err))
	}
	if m.world.Switched && !m.plan.Done {
		r.warn("the DID already points at %s: a real run only finishes the steps listed in the plan", m.opts.NewPDS)
	}
}

// judge gives the verdict.
func (r *DryRunReport) judge() {
	switch {
	case len(r.Blockers) > 0:
		r.Verdict = VerdictStop
	case len(r.CannotTell) > 0:
		r.Verdict = VerdictCannotTell
	default:
		r.Verdict = VerdictSucceed
	}
}

func hintSuffix(err error) string {
	if h := failure.Hint(err); h != "" {
		return " (" + h + ")"
	}
	return ""
}

// reportChecks fills the parts of the report a walk that got past the
// plan checked.
func (m *Migrator) reportChecks(r *DryRunReport) {
	m.reportLogin(r)
	m.reportServer(r)
	if m.from.src != nil && m.sd.st.Repo.Commit != "" {
		m.reportData(r)
		m.reportDisk(r)
		m.reportLimits(r)
	}
	if m.plcState != nil {
		m.reportPLC(r)
	}
	r.EstimateSeconds = estimateSeconds(r.Repo.Bytes, r.Blobs.Bytes)
}

// reportLogin says what the login stage found: the session, or why none.
func (m *Migrator) reportLogin(r *DryRunReport) {
	r.Backup = m.backupNote
	if s := m.from.sess; s != nil {
		r.Login.OK, r.Login.Email, r.Login.Active = true, s.Email, s.Active
	}
	var ie *failure.InputError
	r.Login.AuthFactorNeeded = r.StopsAt == stage.Login && errors.As(m.stopErr, &ie) && ie.Code == failure.CodeSignInCode
}

// reportServer says what the observation and the preflight found of the
// new PDS.
func (m *Migrator) reportServer(r *DryRunReport) {
	info := m.to.info
	if info == nil {
		return
	}
	o := &m.opts
	r.Server.DID = info.DID
	r.Server.InviteCodeRequired = info.InviteCodeRequired
	r.Server.HandleDomains = info.AvailableUserDomains
	if m.world.New.HasAccount {
		r.Server.AccountExists = true
		r.warn("an account for this DID already exists on %s: a real run takes it over (it needs the password that account has)", o.NewPDS)
	}
	if m.world.New.AccountUnknown() {
		r.unknown("whether %s already hosts the account: it answered %s (a real run creates the account, and an existing one is taken over)", o.NewPDS, m.world.New.AccountErr)
	}
	pc := m.preflight
	r.Server.HandleAllowed, r.Server.HandleFree = pc.HandleAllowed, pc.HandleFree
	if pc.HandleUnknown != nil {
		r.doubt("whether the handle %s is free on %s: resolveHandle answered %v (createAccount refuses a taken handle)", r.NewHandle, o.NewPDS, pc.HandleUnknown)
	}
}

// reportData says what the export found: the repo and its blobs.
func (m *Migrator) reportData(r *DryRunReport) {
	if m.keyNote != "" {
		r.warn("%s", m.keyNote) // a real run says it in passing; a dry run's reader should see it
	}
	repo := m.sd.st.Repo
	r.Repo.Bytes, r.Repo.Records, r.Repo.Rev, r.Repo.Commit = repo.Bytes, repo.Records, repo.Rev, repo.Commit
	refs := m.data.blobList().Refs()
	r.Blobs.Count = len(refs)
	for _, b := range refs {
		r.Blobs.Bytes += max(b.Size, 0)
		r.Blobs.Largest = max(r.Blobs.Largest, b.Size)
	}
}

// reportDisk works out the disk a real run needs, from the same floor and
// window as the real run, measured where its state dir would be.
func (m *Migrator) reportDisk(r *DryRunReport) {
	dir := m.sd.diskDir()
	r.Disk.Dir = dir
	free, ok := fsutil.FreeBytes(dir)
	if !ok {
		return
	}
	refs, repoBytes := m.data.blobList().Refs(), r.Repo.Bytes
	floor := transfer.DiskFloor(m.data.sizeLimits().Movable(refs), m.opts.Concurrency)
	r.Disk.Free, r.Disk.Floor = free, repoBytes+floor
	r.Disk.Window = max(min(m.opts.DiskBudget, free-repoBytes-floor), 0)
	r.Disk.Peak = repoBytes + min(r.Blobs.Bytes, r.Disk.Window+floor)
	if m.opts.KeepData {
		r.Disk.Peak = repoBytes + r.Blobs.Bytes
	}
	switch {
	case free < r.Disk.Floor:
		r.block("the disk holding %s has %.1f MB free; a run needs at least %.1f MB there (the repo and {blob-concurrency} %d of the largest blobs)",
			dir, units.MB(free), units.MB(r.Disk.Floor), m.opts.Concurrency)
	case m.opts.KeepData && free < r.Disk.Peak:
		r.block("the disk holding %s has %.1f MB free; with {keep-data} a run keeps every blob there, %.1f MB in all", dir, units.MB(free), units.MB(r.Disk.Peak))
	}
}

// reportPLC reports the DID's keys and recent operations, how a real run
// would sign, and its operation as identity.Target.Preview builds and
// checks it.
func (m *Migrator) reportPLC(r *DryRunReport) {
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
	} else if m.from.pds != nil && r.Login.Email == "" {
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

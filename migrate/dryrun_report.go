package migrate

import (
	"cmp"
	"errors"
	"time"

	"github.com/atmigrate/atmigrate/internal/diskuse"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
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

// findings are what the stages found that only the dry run's report
// reads: what the preflight found, what a restore's backup is, and that
// the exported commit is signed by the DID's earlier key.
type findings struct {
	preflight  preflightResult
	backupNote string
	keyNote    string
}

// reporter writes the dry run's report from what its walk left: the
// parts of the run it reads, and the walk's end.
type reporter struct {
	*env
	sd       *stateDir
	from     *origin
	data     *dataCopy
	info     *pds.ServerInfo // the new PDS's description
	plcState *plc.State
	world    plan.World
	plan     plan.Plan
	found    findings
	// target is what the run wants the DID document to say.
	target identity.Target
	// at is the stage the walk was at, and stopErr what stopped it.
	at      stage.Stage
	stopErr error
}

// report fills r from the walk, and gives the verdict.
func (rep *reporter) report(r *DryRunReport) {
	err := rep.stopErr
	rep.reportOutcome(r, err)
	if r.Checked = rep.plan.Refusal == nil && !rep.plan.Done && !rep.world.Switched; r.Checked {
		rep.reportChecks(r)
	}
	r.judge()
}

// reportOutcome says how the walk ended: the plan, and the stop a real
// run would meet.
func (rep *reporter) reportOutcome(r *DryRunReport, err error) {
	r.DID, r.Handle, r.NewPDS = rep.did, rep.sd.st.Handle, rep.opts.NewPDS
	r.OldPDS, r.NewHandle = cmp.Or(rep.sd.st.OldPDS, rep.world.Old.URL), rep.sd.st.NewHandle
	r.Plan = append([]plan.Step(nil), rep.plan.Steps...)
	switch {
	case err == nil:
	case errors.Is(err, failure.ErrAlreadyMigrated):
		r.warn("this migration is complete: a real run changes nothing")
	case err == rep.plan.Refusal:
		r.block("%v%s", err, hintSuffix(err))
	case err == rep.plan.Pending:
		r.warn("%v%s", err, hintSuffix(err))
	default:
		r.StopsAt = rep.at
		if rep.at == stage.Preflight && len(rep.found.preflight.Problems) > 1 {
			for _, p := range rep.found.preflight.Problems { // every problem, not just the first
				r.block("%v%s", p, hintSuffix(p))
			}
			return
		}
		r.block("%v%s", err, hintSuffix(err)) // stopsAt names the stage
	}
	if rep.world.Switched && !rep.plan.Done {
		r.warn("the DID already points at %s: a real run only finishes the steps listed in the plan", rep.opts.NewPDS)
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
func (rep *reporter) reportChecks(r *DryRunReport) {
	rep.reportLogin(r)
	rep.reportServer(r)
	if rep.from.src != nil && rep.sd.st.Repo.Commit != "" {
		rep.reportData(r)
		rep.reportDisk(r)
		rep.reportLimits(r)
	}
	if rep.plcState != nil {
		rep.reportPLC(r)
	}
	r.EstimateSeconds = estimateSeconds(r.Repo.Bytes, r.Blobs.Bytes)
}

// reportLogin says what the login stage found: the session, or why none.
func (rep *reporter) reportLogin(r *DryRunReport) {
	r.Backup = rep.found.backupNote
	if s := rep.from.sess; s != nil {
		r.Login.OK, r.Login.Email, r.Login.Active = true, s.Email, s.Active
	}
	var ie *failure.InputError
	r.Login.AuthFactorNeeded = r.StopsAt == stage.Login && errors.As(rep.stopErr, &ie) && ie.Code == failure.CodeSignInCode
}

// reportServer says what the observation and the preflight found of the
// new PDS.
func (rep *reporter) reportServer(r *DryRunReport) {
	info := rep.info
	if info == nil {
		return
	}
	o := &rep.opts
	r.Server.DID = info.DID
	r.Server.InviteCodeRequired = info.InviteCodeRequired
	r.Server.HandleDomains = info.AvailableUserDomains
	if rep.world.New.HasAccount {
		r.Server.AccountExists = true
		r.warn("an account for this DID already exists on %s: a real run takes it over (it needs the password that account has)", o.NewPDS)
	}
	if rep.world.New.AccountUnknown() {
		r.unknown("whether %s already hosts the account: it answered %s (a real run creates the account, and an existing one is taken over)", o.NewPDS, rep.world.New.AccountErr)
	}
	pc := rep.found.preflight
	r.Server.HandleAllowed, r.Server.HandleFree = pc.HandleAllowed, pc.HandleFree
	if pc.HandleUnknown != nil {
		// Not a doubt: createAccount is the check, and a taken handle
		// stops the run there as bad input, before anything is written.
		r.unknown("whether the handle %s is free on %s: resolveHandle answered %v (createAccount refuses a taken handle)", r.NewHandle, o.NewPDS, pc.HandleUnknown)
	}
}

// reportData says what the export found: the repo and its blobs.
func (rep *reporter) reportData(r *DryRunReport) {
	if rep.found.keyNote != "" {
		r.warn("%s", rep.found.keyNote) // a real run says it in passing; a dry run's reader should see it
	}
	repo := rep.sd.st.Repo
	r.Repo.Bytes, r.Repo.Records, r.Repo.Rev, r.Repo.Commit = repo.Bytes, repo.Records, repo.Rev, repo.Commit
	refs := rep.data.blobList().Refs()
	r.Blobs.Count = len(refs)
	for _, b := range refs {
		r.Blobs.Bytes += max(b.Size, 0)
		r.Blobs.Largest = max(r.Blobs.Largest, b.Size)
	}
}

// reportDisk works out the disk a real run needs, from the same room and
// window as the real run, measured where its state dir would be. The dry
// run keeps its copies elsewhere: the repo a real run would have written
// by the blobs stage is taken off the free space.
func (rep *reporter) reportDisk(r *DryRunReport) {
	dir := rep.sd.diskDir()
	r.Disk.Dir = dir
	free, ok := fsutil.FreeBytes(dir)
	if !ok {
		return
	}
	refs := rep.data.sizeLimits().Movable(rep.data.blobList().Refs())
	repoBytes := diskuse.OnDisk(r.Repo.Bytes)
	room := transfer.DiskRoom{Known: true, Free: free - repoBytes, Headroom: transfer.Headroom(r.Repo.Bytes, len(refs)),
		Largest: transfer.Largest(refs), Floor: transfer.DiskFloor(refs, rep.opts.Concurrency), Budget: rep.opts.DiskBudget}
	r.Disk.Free, r.Disk.Floor = free, repoBytes+room.Need()
	r.Disk.Window = room.Window()
	r.Disk.Peak = repoBytes + room.Headroom + min(r.Blobs.Bytes, room.MostBlobs())
	if rep.opts.KeepData {
		r.Disk.Peak = repoBytes + room.Headroom + r.Blobs.Bytes
	}
	switch {
	case !room.Fits():
		r.block("the disk holding %s has %.1f MB free; a run needs at least %.1f MB there (the repo, the largest blob and %.1f MB kept free for temporary copies)",
			dir, units.MB(free), units.MB(r.Disk.Floor), units.MB(room.Headroom))
	case rep.opts.KeepData && free < r.Disk.Peak:
		r.block("the disk holding %s has %.1f MB free; with {keep-data} a run keeps every blob there, %.1f MB in all", dir, units.MB(free), units.MB(r.Disk.Peak))
	}
}

// reportPLC reports the DID's keys and recent operations, how a real run
// would sign, and its operation as identity.Target.Preview builds and
// checks it.
func (rep *reporter) reportPLC(r *DryRunReport) {
	st := rep.plcState
	r.PLC.CurrentKeys = st.RotationKeys()
	now := time.Now()
	r.PLC.OpsLastHour, r.PLC.OpsLastDay = st.OpsSince(now.Add(-time.Hour)), st.OpsSince(now.Add(-24*time.Hour))
	r.PLC.Method = "email-token"
	if identity.IsDIDWeb(rep.did) {
		r.PLC.Method = "did-web"
		r.warn("%s is a did:web identity: the run writes the did.json to publish and waits for it before switching", rep.did)
		return
	}
	if rep.opts.RotationKey != nil {
		r.PLC.Method = "rotation-key"
		key, err := plc.DIDKey(rep.opts.RotationKey)
		valid := err == nil && st.HasRotationKey(key)
		r.PLC.RotationKey, r.PLC.RotationKeyValid = key, &valid // a problem is a preflight blocker
	} else if rep.from.pds != nil && r.Login.Email == "" {
		r.block("the email token needs an email address on the old account")
	}
	p, err := rep.target.Preview(st, now)
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

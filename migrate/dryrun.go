package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/internal/pds"
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
	Plan []Step `json:"plan"`
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
}

// OK reports whether a real run should succeed.
func (r *DryRunReport) OK() bool { return len(r.Blockers) == 0 }

func (r *DryRunReport) block(format string, args ...any) {
	r.Blockers = append(r.Blockers, fmt.Sprintf(format, args...))
}

func (r *DryRunReport) unknown(format string, args ...any) {
	r.Unknown = append(r.Unknown, fmt.Sprintf(format, args...))
}

// handleUnknownErr is the answer for a handle nobody holds.
func handleUnknownErr(err error) bool {
	var ae *pds.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest
}

func (r *DryRunReport) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Placeholders for what the new PDS only decides when the account is
// created.
const (
	placeholderSigningKey  = "<signing key the new PDS creates for the account>"
	placeholderRotationKey = "<the new PDS's rotation key>"
)

// DryRun checks a migration without changing anything anywhere. The error
// is for failures that stop the checking itself (a bad --account); what
// would stop a real run is in the report's Blockers.
func DryRun(ctx context.Context, opts Options) (*DryRunReport, error) {
	opts.defaults()
	opts.NewPDS = strings.TrimRight(opts.NewPDS, "/")
	opts.OldPDS = strings.TrimRight(opts.OldPDS, "/")
	m := &Migrator{opts: opts, prog: NopProgress{}, ui: NoUI{}, timings: map[Stage]time.Duration{}}
	m.plc = m.newPLC()
	r := &DryRunReport{NewPDS: opts.NewPDS}

	did, err := m.resolveDID(ctx)
	if err != nil {
		return nil, err
	}
	m.did, r.DID = did, did
	st, err := m.identityState(ctx, did)
	if err != nil {
		return nil, m.identityReadError(err)
	}
	m.plcState = st
	if m.st, err = dryRunState(did, opts); err != nil {
		return nil, err
	}
	if m.st.Handle == "" {
		m.st.Handle = st.Handle()
	}
	r.Handle = m.st.Handle

	// The same observation and the same planner as a real run.
	w, err := m.observe(ctx)
	if err != nil {
		return nil, err
	}
	m.world = w
	plan := decide(m.invocation(), w, m.st)
	m.plan = plan
	r.Plan = plan.Steps
	for i, s := range r.Plan {
		if s.Run && m.st.Done(s.Stage) {
			r.Plan[i].Reason = "done by an earlier run: re-checked against the servers"
		}
	}
	r.OldPDS = orDefault(m.st.OldPDS, w.Old.URL)
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
		r.warn("the DID already points at %s: a real run only finishes the steps listed in the plan", opts.NewPDS)
		if plan.Pending != nil {
			r.warn("%v%s", plan.Pending, hintSuffix(plan.Pending))
		}
		return r, nil
	}
	m.st.OldPDS = r.OldPDS
	r.Checked = true

	dryRunLogin(ctx, m, r)
	dryRunServer(ctx, m, r)
	if m.old != nil {
		dryRunRepo(ctx, m, r)
		dryRunLimits(m, r)
	}
	dryRunPLC(ctx, m, r)
	r.EstimateSeconds = estimateSeconds(r.Repo.Bytes, r.Blobs.Bytes)
	return r, nil
}

func dryRunLogin(ctx context.Context, m *Migrator, r *DryRunReport) {
	m.old = pds.New(r.OldPDS, m.pdsOptions(nil))
	sess, err := m.old.Login(ctx, loginIdentifier(m.did, m.st.Handle), m.opts.OldPassword, m.opts.AuthFactorToken)
	if err != nil {
		if pds.ErrorName(err) == "AuthFactorTokenRequired" {
			r.Login.AuthFactorNeeded = true
		}
		r.block("login: %v", loginError(err, r.OldPDS, "--old-password"))
		m.old = nil
		return
	}
	if sess.AppPassword() {
		r.block("%s accepted an app password: a migration needs the account password (pass it with --old-password)", r.OldPDS)
		m.old = nil
		return
	}
	r.Login.OK, r.Login.Email, r.Login.Active = true, sess.Email, sess.Active
	m.oldSess = sess
	if sess.Handle != "" && sess.Handle != "handle.invalid" {
		r.Handle, m.st.Handle = sess.Handle, sess.Handle
	}
	if cred, err := m.old.GetRecommendedDidCredentials(ctx); err == nil {
		m.st.OldPDSRotationKeys = cred.RotationKeys
	}
	if sess.Email == "" && m.opts.NewEmail == "" {
		r.block("the old account has no email we can read: pass --new-email")
	}
}

func dryRunServer(ctx context.Context, m *Migrator, r *DryRunReport) {
	o := &m.opts
	r.NewHandle = strings.ToLower(o.NewHandle)
	if r.NewHandle == "" {
		r.NewHandle = strings.ToLower(r.Handle)
	}
	m.st.NewHandle = r.NewHandle
	probe := m.pdsOptions(o.NewPDSHeaders)
	probe.Retry = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: time.Minute}
	m.new = pds.New(o.NewPDS, probe)
	info, err := m.new.DescribeServer(ctx)
	if err != nil {
		r.block("%s does not answer as a PDS: %v", o.NewPDS, err)
		return
	}
	r.Server.DID = info.DID
	r.Server.InviteCodeRequired = info.InviteCodeRequired
	r.Server.HandleDomains = info.AvailableUserDomains
	exists, unknown := m.accountOnNew(ctx)
	if exists {
		r.Server.AccountExists = true
		r.warn("an account for this DID already exists on %s: a real run takes it over (it needs the password that account has)", o.NewPDS)
	}
	if unknown != "" {
		r.unknown("whether %s already hosts the account: it answered %s (a real run creates the account, and an existing one is taken over)", o.NewPDS, unknown)
	}
	if info.InviteCodeRequired && o.InviteCode == "" && !exists {
		r.block("%s requires an invite code: pass --invite-code", o.NewPDS)
	}
	r.Server.HandleAllowed = handleAllowed(r.NewHandle, info.AvailableUserDomains) || m.handleResolvesToDID(ctx, r.NewHandle)
	if !r.Server.HandleAllowed {
		r.block("the handle %s is not allowed on %s (domains: %s): pass --new-handle", r.NewHandle, o.NewPDS, strings.Join(info.AvailableUserDomains, ", "))
	}
	r.Server.HandleFree = true
	did, err := m.advisoryResolveHandle(ctx, o.NewPDS, r.NewHandle)
	switch {
	case err == nil && did != m.did:
		r.Server.HandleFree = false
		r.block("the handle %s is taken on %s: pass --new-handle", r.NewHandle, o.NewPDS)
	case err != nil && !handleUnknownErr(err):
		r.unknown("whether the handle %s is free on %s: resolveHandle answered %v (createAccount refuses a taken handle)", r.NewHandle, o.NewPDS, err)
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
	m.src = &pdsSource{c: m.old, did: m.did}
	sum, err := m.exportAndVerify(ctx, "", filepath.Join(tmp, "repo.car"), vo)
	if err != nil {
		r.block("the repo: %v", err)
		return
	}
	if note := earlierKeyNote(keys, sum, m.src.Name()); note != "" {
		r.warn("%s", note)
	}
	r.Repo.Bytes, r.Repo.Records, r.Repo.Rev, r.Repo.Commit = sum.Bytes, sum.Records, sum.Rev, sum.Commit
	m.st.Repo.Bytes = sum.Bytes
	m.blobRefs = sum.Blobs
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

// dryRunPLC builds the operation a real run would sign, with stand-ins for
// the two keys the new PDS only creates with the account, and runs every
// check that does not need a signature.
func dryRunPLC(ctx context.Context, m *Migrator, r *DryRunReport) {
	st := m.plcState
	r.PLC.CurrentKeys = st.RotationKeys()
	now := time.Now()
	r.PLC.OpsLastHour, r.PLC.OpsLastDay = st.OpsSince(now.Add(-time.Hour)), st.OpsSince(now.Add(-24*time.Hour))
	r.PLC.Method = "email-token"
	if isDIDWeb(m.did) {
		r.PLC.Method = "did-web"
		r.warn("%s is a did:web identity: the run writes the did.json to publish and waits for it before switching", m.did)
		if m.opts.RotationKey != nil {
			r.block("--rotation-key does not apply to did:web")
		}
		return
	}
	if m.opts.RotationKey != nil {
		r.PLC.Method = "rotation-key"
		key, err := plc.DIDKey(m.opts.RotationKey)
		valid := err == nil && st.HasRotationKey(key)
		r.PLC.RotationKey, r.PLC.RotationKeyValid = key, &valid
		if !valid {
			r.block("the rotation key %s is not one of the DID's current rotation keys", key)
		}
	} else if m.old != nil && r.Login.Email == "" {
		r.block("the email token needs an email address on the old account")
	}
	standInSigning, err1 := standInKey()
	standInRotation, err2 := standInKey()
	if err1 != nil || err2 != nil {
		return
	}
	intent := plc.Intent{
		Endpoint:         m.opts.NewPDS,
		SigningKey:       standInSigning,
		PDSRotationKeys:  []string{standInRotation},
		DropRotationKeys: m.st.OldPDSRotationKeys,
		AddRotationKeys:  m.opts.AddRotationKeys,
		Handle:           r.NewHandle,
	}
	op, err := plc.BuildUpdate(st, intent)
	if err != nil {
		r.block("build the PLC operation: %v", err)
		return
	}
	rep, err := plc.Check(st, op, op, plc.CheckOptions{OpsNeeded: 1, Now: now})
	if err != nil {
		r.block("the PLC operation would fail its checks: %v", err)
	} else {
		for _, w := range rep.Warnings {
			r.warn("PLC operation: %s", w)
		}
	}
	diff := plc.DiffDocLabeled(&st.Op, op, keyLabels(st, intent))
	diff = strings.ReplaceAll(diff, standInSigning, placeholderSigningKey)
	diff = strings.ReplaceAll(diff, standInRotation, placeholderRotationKey)
	r.PLC.Diff = diff
}

func standInKey() (string, error) {
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return "", err
	}
	return plc.DIDKey(k)
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
func dryRunState(did string, o Options) (*State, error) {
	dir := o.StateDir
	if dir == "" {
		dir, _ = DefaultStateDir(did)
	}
	if dir == "" {
		return freshState(did, o), nil
	}
	st, _, err := loadRunState(dir, did, o)
	return st, err
}

func hintSuffix(err error) string {
	if h := Hint(err); h != "" {
		return " (" + h + ")"
	}
	return ""
}

// dryRunDisk works out the disk a real run needs, from the same floor and
// window as the real run, measured where its state dir would be.
func dryRunDisk(m *Migrator, r *DryRunReport, sum *repo.Summary) {
	dir := m.opts.StateDir
	if dir == "" {
		dir, _ = DefaultStateDir(m.did)
	}
	for d := dir; d != "" && d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			dir = d
			break
		}
	}
	r.Disk.Dir = dir
	free, ok := freeBytes(dir)
	if !ok {
		return
	}
	var blobBytes int64
	for _, b := range sum.Blobs {
		blobBytes += max(b.Size, 0)
	}
	floor := m.diskFloor()
	r.Disk.Free, r.Disk.Floor = free, sum.Bytes+floor
	r.Disk.Window = max(min(m.opts.DiskBudget, free-sum.Bytes-floor), 0)
	r.Disk.Peak = sum.Bytes + min(blobBytes, r.Disk.Window+floor)
	if m.opts.KeepData {
		r.Disk.Peak = sum.Bytes + blobBytes
	}
	if free < r.Disk.Floor {
		r.block("the disk holding %s has %.1f MB free; a run needs at least %.1f MB there (the repo and --blob-concurrency %d of the largest blobs)",
			dir, mb(free), mb(r.Disk.Floor), m.opts.Concurrency)
	} else if m.opts.KeepData && free < r.Disk.Peak {
		r.block("the disk holding %s has %.1f MB free; with --keep-data a run keeps every blob there, %.1f MB in all", dir, mb(free), mb(r.Disk.Peak))
	}
}

package migrate

import (
	"context"
	"fmt"
	"os"

	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// Verdict is a dry run's answer.
type Verdict string

// Verdicts.
const (
	VerdictSucceed    Verdict = "should-succeed"
	VerdictStop       Verdict = "would-stop"
	VerdictCannotTell Verdict = "cannot-tell"
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

	// Disk is what the state dir's disk must hold: the repo, the room
	// kept for temporary copies, the blobs the uploads have in flight and
	// the prefetch window.
	Disk struct {
		Dir    string `json:"dir"`
		Free   int64  `json:"free"`
		Floor  int64  `json:"floor"`  // the least a run needs: repo, largest blob, headroom
		Window int64  `json:"window"` // prefetch, after --disk-budget and free space
		Peak   int64  `json:"peak"`   // the most a real run would hold at once
	} `json:"disk"`

	// Limits are the new PDS's size limits against the export.
	Limits DryRunLimits `json:"limits"`
	// RateLimits is how many rate-limited calls the move needs against
	// what the new PDS's answers said of its limits.
	RateLimits DryRunRateLimits `json:"rateLimits"`

	EstimateSeconds float64 `json:"estimateSeconds"`

	// Verdict is whether a real run should succeed, would stop (at
	// StopsAt, for the Blockers), or cannot be told (for CannotTell).
	Verdict Verdict     `json:"verdict"`
	StopsAt stage.Stage `json:"stopsAt,omitempty"`
	// Effects are the side effects a real run would make, in order: the
	// dry run's actor recorded each one where the run would have made it.
	Effects  []Effect `json:"effects"`
	Warnings []string `json:"warnings,omitempty"`
	Blockers []string `json:"blockers,omitempty"`
	// Unknown is what the dry run could not learn (a server's answer that
	// said nothing either way); a real run finds out as it goes.
	// CannotTell are those of them that may stop a real run.
	Unknown    []string `json:"unknown,omitempty"`
	CannotTell []string `json:"cannotTell,omitempty"`
	// Backup describes the backup a restore (--from-backup) would use,
	// verified as the restore does; the old PDS is then not contacted.
	Backup string `json:"backup,omitempty"`
}

// OK reports whether nothing found would stop a real run.
func (r *DryRunReport) OK() bool { return len(r.Blockers) == 0 }

func (r *DryRunReport) block(format string, args ...any) {
	r.Blockers = append(r.Blockers, fmt.Sprintf(format, args...))
}

func (r *DryRunReport) unknown(format string, args ...any) {
	r.Unknown = append(r.Unknown, fmt.Sprintf(format, args...))
}

// doubt is an unknown that may stop a real run.
func (r *DryRunReport) doubt(format string, args ...any) {
	r.unknown(format, args...)
	r.CannotTell = append(r.CannotTell, r.Unknown[len(r.Unknown)-1])
}

func (r *DryRunReport) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// DryRun checks a migration without changing anything anywhere: it is a
// run whose actor records every side effect instead of making it (see
// effects.go), so it takes the same steps as Run, with the same checks, up
// to each effect. Its data files go to a temporary directory; no state
// file is written. The error is for failures that stop the checking
// itself (an account that does not resolve); what would stop a real run is
// the report's verdict.
func DryRun(ctx context.Context, opts Options) (*DryRunReport, error) {
	m := newMigrator(opts)
	r := &DryRunReport{Effects: []Effect{}}
	rec := &recorder{}
	m.act, m.prog, m.ui = rec, reportProgress{r: r}, ui.NoPrompter{}
	tmp, err := os.MkdirTemp("", "atmigrate-dryrun-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m.sd.dataDir, m.sd.dry = tmp, true
	err = m.run(ctx)
	if !m.planned {
		return nil, err
	}
	r.Effects = append(r.Effects, rec.effects...)
	rep := &reporter{env: m.env, sd: m.sd, from: m.from, data: m.data, info: m.to.info, plcState: m.plcState,
		world: m.world, plan: m.plan, at: m.current, found: m.found, target: identityTarget(&m.opts, m.sd.st), stopErr: err}
	rep.report(r)
	return r, nil
}

// reportProgress turns what the run would warn a user about into the dry
// run's warnings (and its doubts into what it cannot tell); the rest of
// its progress is not shown.
type reportProgress struct {
	ui.NopProgress
	r *DryRunReport
}

func (p reportProgress) Warn(msg string)  { p.r.warn("%s", msg) }
func (p reportProgress) Doubt(msg string) { p.r.doubt("%s", msg) }

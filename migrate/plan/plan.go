package plan

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The identity comes first: once the DID points at the new PDS nothing
// before the identity step is needed again, and nothing that only guards
// that step (the old PDS answering, the user's rotation key still being
// listed) may block what is left to do.

// SourceKind is where the account's data comes from.
type SourceKind string

// Sources.
const (
	SourcePDS    SourceKind = "old-pds"
	SourceBackup SourceKind = "backup"
)

// SignerKind is how the PLC operation gets signed.
type SignerKind string

// Signers.
const (
	SignEmailToken  SignerKind = "email-token"  // the old PDS signs, with the emailed token
	SignRotationKey SignerKind = "rotation-key" // the user's (or admin's) own rotation key
	SignDIDWeb      SignerKind = "did-web"      // no operation: the user publishes did.json
)

// Invocation is how the run was started: what the user asked for, never
// what a server said.
type Invocation struct {
	Source          SourceKind
	Signer          SignerKind
	NoDeactivateOld bool
	// OldPDSGiven is true when --old-pds named the server to move from.
	OldPDSGiven bool
	// ByHandle and Batch say how the account was named and by whom. The
	// planner never reads them: the table test proves that decisions do
	// not depend on them, and the dry run shows them.
	ByHandle bool
	Batch    bool
	// Network is true when there is a relay or an AppView to ask what it
	// sees of the account after the move.
	Network bool
}

// Server is what one PDS said about itself and about the account.
type Server struct {
	// Known is true when there is a URL for this server at all.
	Known bool
	URL   string
	// Reachable is true when describeServer answered.
	Reachable bool
	// Stalled is true when it took the connection and then stalled
	// (internal/stall): the server is there, but overloaded or cut off,
	// so a later run may pass.
	Stalled bool
	// ServiceDID is the server's own DID from describeServer: what tells
	// two servers apart, whatever URL they were typed as.
	ServiceDID string
	// Err is why describeServer failed, when it did.
	Err string
	// HasAccount and Active describe the account there (getRepoStatus,
	// public on every PDS). AccountErr is set when the answer was neither
	// the account's status nor "not found" (another implementation answers
	// 500 for a DID it does not host): then nothing is known of it, and
	// the stage that needs to know asks in its own way (createAccount, a
	// login).
	HasAccount bool
	Active     bool
	Status     string
	AccountErr string
	// RateLimit is what its describeServer answer said of its rate limits
	// (nil: nothing, they are off or the bypass key lifted them).
	RateLimit *pds.RateLimit `json:"-"`
}

// AccountUnknown reports whether the server's answer about the account
// said nothing either way.
func (s Server) AccountUnknown() bool { return s.AccountErr != "" }

// World is what the servers say now.
type World struct {
	// Endpoint is the PDS the DID document names.
	Endpoint string
	// Switched is true when the DID document names the new PDS (by
	// service DID, or by the endpoint the new PDS asked for).
	Switched bool
	// OurOpApplied is true when the operation this state dir recorded is in
	// the audit log (and not nullified).
	OurOpApplied bool
	New          Server
	Old          Server
}

// SameServer reports whether the old and the new PDS are one server.
func (w World) SameServer() bool {
	return w.Old.Known && w.New.ServiceDID != "" && w.Old.ServiceDID == w.New.ServiceDID
}

// Step is one stage of a plan: run it, or skip it and say why.
type Step struct {
	Stage  stage.Stage `json:"stage"`
	Run    bool        `json:"run"`
	Reason string      `json:"reason,omitempty"` // why it is skipped (of one that runs: that an earlier run did it)
}

// Plan is the stages still to do.
type Plan struct {
	Steps []Step
	// Refusal stops the run before any stage acts: bad input (exit 2) or
	// a server that must answer first (exit 1).
	Refusal error
	// Pending is what this run cannot do but a later one can (the old
	// PDS is down, so its account cannot be deactivated yet). The run
	// does everything else, then returns it.
	Pending error
	// Done is true when nothing is left: the migration is complete.
	Done bool
}

// Runs reports whether the plan runs stage s.
func (p Plan) Runs(s stage.Stage) bool {
	for _, st := range p.Steps {
		if st.Stage == s {
			return st.Run
		}
	}
	return false
}

// Step returns the plan's step for s.
func (p Plan) Step(s stage.Stage) Step {
	for _, st := range p.Steps {
		if st.Stage == s {
			return st
		}
	}
	return Step{Stage: s, Reason: "not planned"}
}

// Running lists the stages the plan runs, in order.
func (p Plan) Running() []stage.Stage {
	var out []stage.Stage
	for _, st := range p.Steps {
		if st.Run {
			out = append(out, st.Stage)
		}
	}
	return out
}

// dataStages move the data and guard the switch: needed only while the
// DID does not point at the new PDS.
var dataStages = []stage.Stage{
	stage.Preflight, stage.ExportRepo, stage.CreateAccount, stage.ImportRepo,
	stage.Blobs, stage.Preferences, stage.VerifyNew, stage.CatchUp, stage.Identity,
}

// Decide is the planner. st is the state file (never nil: a fresh run has
// an empty one).
func Decide(inv Invocation, w World, st *checkpoint.State) Plan {
	p := Plan{}
	run := func(s stage.Stage) { p.Steps = append(p.Steps, Step{Stage: s, Run: true}) }
	skip := func(s stage.Stage, format string, args ...any) {
		p.Steps = append(p.Steps, Step{Stage: s, Reason: fmt.Sprintf(format, args...)})
	}

	if w.SameServer() {
		p.Refusal = failure.Input(nil, "pass {new-pds} with the URL of the PDS to move to",
			"%s is the PDS the account already lives on (%s): it cannot be moved onto itself", w.New.URL, w.New.ServiceDID)
		return p
	}
	if !w.New.Reachable {
		var why error
		if w.New.Err != "" {
			why = errors.New(w.New.Err)
		}
		switch {
		case w.New.Stalled:
			p.Refusal = &failure.StageError{Stage: stage.Preflight, Err: fmt.Errorf("the new PDS %s did not answer: %w", w.New.URL, orUnknown(why)), Hint: failure.StallHint}
		case st.BoundToTarget():
			p.Refusal = fmt.Errorf("the new PDS %s did not answer: %w", w.New.URL, orUnknown(why))
		default:
			p.Refusal = failure.Input(why, "check {new-pds}: it must be the PDS's base URL with its scheme, like https://pds.example.com (http:// for a local test server)",
				"%s does not answer as a PDS", w.New.URL)
		}
		return p
	}

	if !w.Switched {
		if w.OurOpApplied {
			p.Refusal = failure.Input(nil, "check `atmigrate plc log`: the DID changed after this migration's operation. If you moved it yourself, start the new move with another {state-dir}; if not, find out why before anything else",
				"this migration's PLC operation is in the audit log, but the DID now points at %s", w.Endpoint)
			return p
		}
		if inv.Source == SourcePDS && !w.Old.Reachable {
			p.Refusal = fmt.Errorf("the old PDS %s did not answer; nothing was changed", cmp.Or(w.Old.URL, w.Endpoint))
			return p
		}
		run(stage.Login)
		for _, s := range dataStages {
			run(s)
		}
		run(stage.Activate)
		run(stage.SignCommit)
		decideDeactivate(&p, inv, w, false)
		run(stage.FinalCheck)
		decideNetwork(&p, inv, false)
		return p
	}

	// The DID points at the new PDS: the data is there and the identity
	// is done, whatever the state file says.
	if !w.Old.Known && !st.Completed && inv.Source == SourcePDS && w.New.Active && !inv.NoDeactivateOld {
		p.Refusal = failure.Input(nil, "if the account was moved here from another PDS, pass {old-pds} with its URL to finish deactivating the old account",
			"the account already lives on %s (the DID points there and the account is active): there is nothing to move", w.New.URL)
		return p
	}
	needOldSession := decideDeactivate(&p, inv, w, true)
	steps := p.Steps
	p.Steps = nil
	done := st.Completed && w.New.Active && !needOldSession && p.Pending == nil
	if needOldSession {
		run(stage.Login)
	} else {
		skip(stage.Login, "the old PDS is not needed: the DID already points at the new PDS")
	}
	for _, s := range dataStages {
		skip(s, "the DID already points at the new PDS")
	}
	// activateAccount is idempotent and is what makes the new PDS announce
	// the account: it is called on every run after the switch until the
	// migration is complete, even when the account already reads as
	// active (some PDSes create it active).
	// A complete migration is checked again only downstream: the commit
	// signed by the new PDS and the network's view, which a re-run
	// repairs (it nudges relays; it never touches the identity or data).
	if done {
		skip(stage.Activate, "already migrated")
	} else {
		run(stage.Activate)
	}
	if done && !inv.Network {
		skip(stage.SignCommit, "already migrated")
	} else {
		run(stage.SignCommit)
	}
	p.Steps = append(p.Steps, steps...)
	if done {
		skip(stage.FinalCheck, "already migrated")
		decideNetwork(&p, inv, true)
		p.Done = !inv.Network
		return p
	}
	run(stage.FinalCheck)
	decideNetwork(&p, inv, false)
	return p
}

// decideNetwork adds the network step: asking the relays and the AppView
// what they see, which repairs their view on a re-run (repair).
func decideNetwork(p *Plan, inv Invocation, repair bool) {
	s := Step{Stage: stage.Network, Run: inv.Network}
	switch {
	case !inv.Network:
		s.Reason = "no relay or AppView to ask ({relay} none, {appview} none)"
	case repair:
		s.Reason = "already migrated: check what the network sees, and nudge a relay that lags"
	}
	p.Steps = append(p.Steps, s)
}

// decideDeactivate adds the deactivate-old step and reports whether it
// needs a session on the old PDS. Before the switch it always plans the
// step (its own guard checks the switch again when it gets there).
func decideDeactivate(p *Plan, inv Invocation, w World, switched bool) bool {
	add := func(run bool, format string, args ...any) {
		s := Step{Stage: stage.DeactivateOld, Run: run}
		if !run {
			s.Reason = fmt.Sprintf(format, args...)
		}
		p.Steps = append(p.Steps, s)
	}
	switch {
	case inv.NoDeactivateOld:
		add(false, "{no-deactivate-old}")
		return false
	case inv.Source == SourceBackup:
		add(false, "the old PDS is not used (restore from backup)")
		return false
	case !switched:
		add(true, "")
		return true
	case !w.Old.Known:
		add(false, "the PDS the account moved from is not known")
		p.Pending = failure.Input(nil, "pass {old-pds} with the URL of the PDS the account moved from, or {no-deactivate-old} to leave it",
			"the account works on %s, but the old account could not be deactivated: it is not known which PDS it was on", w.New.URL)
		return false
	case !w.Old.Reachable:
		add(false, "the old PDS did not answer")
		p.Pending = &failure.StageError{Stage: stage.DeactivateOld,
			Err:  fmt.Errorf("the account works on %s, but the old PDS %s did not answer, so the old account was not deactivated", w.New.URL, w.Old.URL),
			Hint: "run the same command again when the old PDS is back, or pass {no-deactivate-old} if it is gone for good"}
		return false
	case w.Old.AccountUnknown():
		// The stage asks again with the session and skips an account
		// that is already deactivated.
	case !w.Old.HasAccount || !w.Old.Active:
		add(false, "already %s", cmp.Or(w.Old.Status, "inactive"))
		return false
	}
	add(true, "")
	return true
}

func orUnknown(err error) error {
	if err == nil {
		return errors.New("no answer")
	}
	return err
}

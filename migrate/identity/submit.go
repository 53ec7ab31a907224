package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Submission is one PLC operation on its way to the directory. Every
// submitter (the identity step, a restore's temporary signing key, plc
// add-rotation-key, plc recover) goes through Submitter.Submit, which
// does, in this order: check the operation against what was wanted
// (plc.Check), show the document as it is and as it will be and ask,
// record the operation's CID (so a run that dies after sending finds it in
// the audit log instead of sending it again), send it, judge a failure
// from the audit log, and wait until the directory shows it.
type Submission struct {
	DID string
	// State is the state the operation is built on; Op is what will be
	// sent and Want what it must say (Op signed, Want not).
	State    *plc.State
	Op, Want *didplc.RegularOp
	// Check are plc.Check's options; nil when the caller has checked the
	// operation by other rules (a nullification, checked against its
	// review of the log).
	Check *plc.CheckOptions
	// Ask is put to the user (unless Yes); a zero Question asks nothing.
	Ask ui.Confirmation
	// Record saves the operation's CID before it is sent, and Sent that it
	// went (before the wait for the directory); nil when nothing is
	// resumed from them (an interactive command).
	Record func(cid string) error
	Sent   func() error
	// Via sends through a PDS's submitPlcOperation (which checks the
	// operation against its account and relays it); nil posts straight to
	// the directory.
	Via *pds.Client
	// Crash names the crash points around the send (kill tests).
	Crash string
	// Stage is where a failure stops a migration ("" outside one).
	Stage stage.Stage
}

// Submitter holds what every submission needs.
type Submitter struct {
	PLC      *plc.Client
	UI       ui.Prompter
	Progress ui.Progress
	Yes      bool
}

// Submit sends s.Op, once, and returns the DID's state as the directory
// shows it afterwards.
func (sub Submitter) Submit(ctx context.Context, s Submission) (*plc.State, error) {
	if s.Check != nil {
		report, err := plc.Check(s.State, s.Op, s.Want, *s.Check)
		if err != nil {
			return nil, stop(s.Stage, fmt.Errorf("the PLC operation failed its checks and was not submitted: %w", err),
				"nothing was changed; report this, and do not submit the operation by other means")
		}
		for _, w := range report.Warnings {
			sub.Progress.Warn("PLC operation: " + w)
		}
	}
	if s.Ask.Question != "" {
		if err := s.Ask.Ask(sub.UI, sub.Yes); err != nil {
			return nil, err
		}
	}
	cid := plc.OpCID(s.Op)
	if s.Record != nil {
		if err := s.Record(cid); err != nil {
			return nil, err
		}
	}
	s.crashPoint("before-submit")
	err := sub.send(ctx, s)
	s.crashPoint("submitted")
	if err != nil {
		return nil, stop(s.Stage, err, "run the same command again: the audit log is checked before anything is sent again")
	}
	if s.Sent != nil {
		if err := s.Sent(); err != nil {
			return nil, err
		}
	}
	// The next step reads the DID: it must find the operation, not a
	// lagging replica's older document.
	return awaitOp(ctx, sub.PLC, s.DID, s.Op, s.Stage)
}

func (s Submission) crashPoint(at string) {
	if s.Crash != "" {
		crashpoint.At(s.Crash + "-" + at)
	}
}

// send posts the operation, through the PDS or straight to the directory.
// Neither resends what may have arrived: the directory client reads the
// audit log wherever an attempt's fate is unknown, and a PDS's failure is
// judged from the log here.
func (sub Submitter) send(ctx context.Context, s Submission) error {
	if s.Via == nil {
		if err := sub.PLC.Submit(ctx, s.DID, s.Op); err != nil {
			return fmt.Errorf("submit the PLC operation to %s: %w", sub.PLC.URL, err)
		}
		return nil
	}
	raw, err := plc.OpJSON(s.Op)
	if err != nil {
		return err
	}
	serr := s.Via.SubmitPlcOperation(ctx, raw)
	if serr == nil {
		return nil
	}
	if ok, err := relayedApplied(ctx, sub.PLC, s.DID, plc.OpCID(s.Op), serr); !ok {
		return fmt.Errorf("submit the PLC operation through %s: %w", s.Via.Host(), err)
	}
	return nil
}

// OpChecks are the checks of an operation that must be the DID's next one
// (needed more: a restore's two operations).
func OpChecks(needed int) *plc.CheckOptions {
	return &plc.CheckOptions{RequireSignature: true, OpsNeeded: needed, Now: time.Now()}
}

// AwaitRecorded makes sure st is not older than the operation a state dir
// recorded (rec): one the directory accepted (rec.Submitted is set) but st
// does not list at all is waited for, as the run that submitted it did. A
// re-run after a lagging replica must never take the DID for unchanged and
// sign a second operation.
func (sub Submitter) AwaitRecorded(ctx context.Context, did string, rec checkpoint.PLCInfo, st *plc.State) (*plc.State, error) {
	if rec.OpCID == "" || rec.Submitted.IsZero() || len(rec.SignedOp) == 0 || logLists(st, rec.OpCID) {
		return st, nil
	}
	op, err := plc.ParseOp(rec.SignedOp)
	if err != nil {
		return nil, fmt.Errorf("read the recorded PLC operation %s: %w", rec.OpCID, err)
	}
	if plc.OpCID(op) != rec.OpCID {
		return st, nil // not the op that was submitted; the identity step decides
	}
	sub.Progress.Info(fmt.Sprintf("the PLC directory does not show operation %s yet; waiting for it", rec.OpCID))
	return awaitOp(ctx, sub.PLC, did, op, stage.Identity)
}

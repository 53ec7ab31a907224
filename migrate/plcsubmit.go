package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// opSubmission is one PLC operation on its way to the directory. Every
// submitter (the identity stage, a restore's temporary signing key, plc
// add-rotation-key, plc recover) goes through submitOp, which does, in
// this order: check the operation against what was wanted (plc.Check),
// show the document as it is and as it will be and ask, record the
// operation's CID (so a run that dies after sending finds it in the audit
// log instead of sending it again), send it, judge a failure from the
// audit log, and wait until the directory shows it.
type opSubmission struct {
	did string
	// st is the state the operation is built on; op is what will be sent
	// and want what it must say (op signed, want not).
	st       *plc.State
	op, want *didplc.RegularOp
	// check are plc.Check's options; nil when the caller has checked the
	// operation by other rules (a nullification, checked against its
	// review of the log).
	check *plc.CheckOptions
	// ask is put to the user (unless yes); a zero Question asks nothing.
	ask ui.Confirmation
	// record saves the operation's CID before it is sent, and sent that it
	// went (before the wait for the directory); nil when nothing is
	// resumed from them (an interactive command).
	record func(cid string) error
	sent   func() error
	// via sends through a PDS's submitPlcOperation (which checks the
	// operation against its account and relays it); nil posts straight to
	// the directory.
	via *pds.Client
	// crash names the crash points around the send (kill tests).
	crash string
	// stage is where a failure stops a migration ("" outside one).
	stage stage.Stage
}

// submitter holds what every submission needs.
type submitter struct {
	plc  *plc.Client
	ui   ui.Prompter
	prog ui.Progress
	yes  bool
}

// submitOp sends s.op, once, and returns the DID's state as the directory
// shows it afterwards.
func (sub submitter) submitOp(ctx context.Context, s opSubmission) (*plc.State, error) {
	if s.check != nil {
		report, err := plc.Check(s.st, s.op, s.want, *s.check)
		if err != nil {
			return nil, sub.stop(s.stage, fmt.Errorf("the PLC operation failed its checks and was not submitted: %w", err),
				"nothing was changed; report this, and do not submit the operation by other means")
		}
		for _, w := range report.Warnings {
			sub.prog.Warn("PLC operation: " + w)
		}
	}
	if s.ask.Question != "" {
		if err := s.ask.Ask(sub.ui, sub.yes); err != nil {
			return nil, err
		}
	}
	cid := plc.OpCID(s.op)
	if s.record != nil {
		if err := s.record(cid); err != nil {
			return nil, err
		}
	}
	s.crashPoint("before-submit")
	err := sub.send(ctx, s)
	s.crashPoint("submitted")
	if err != nil {
		return nil, sub.stop(s.stage, err, "run the same command again: the audit log is checked before anything is sent again")
	}
	if s.sent != nil {
		if err := s.sent(); err != nil {
			return nil, err
		}
	}
	// The next step reads the DID: it must find the operation, not a
	// lagging replica's older document.
	return awaitOp(ctx, sub.plc, s.did, s.op, s.stage)
}

func (s opSubmission) crashPoint(at string) {
	if s.crash != "" {
		crashpoint.At(s.crash + "-" + at)
	}
}

// send posts the operation, through the PDS or straight to the directory.
// Neither resends what may have arrived: the directory client reads the
// audit log wherever an attempt's fate is unknown, and a PDS's failure is
// judged from the log here.
func (sub submitter) send(ctx context.Context, s opSubmission) error {
	if s.via == nil {
		if err := sub.plc.Submit(ctx, s.did, s.op); err != nil {
			return fmt.Errorf("submit the PLC operation to %s: %w", sub.plc.URL, err)
		}
		return nil
	}
	raw, err := plc.OpJSON(s.op)
	if err != nil {
		return err
	}
	serr := s.via.SubmitPlcOperation(ctx, raw)
	if serr == nil {
		return nil
	}
	if ok, err := relayedApplied(ctx, sub.plc, s.did, plc.OpCID(s.op), serr); !ok {
		return fmt.Errorf("submit the PLC operation through %s: %w", s.via.Host(), err)
	}
	return nil
}

// stop is a submission's failure: a StageError inside a migration, an
// error with its hint outside one.
func (sub submitter) stop(stage stage.Stage, err error, hint string) error {
	if stage == "" {
		return failure.WithHint(err, hint)
	}
	return &failure.StageError{Stage: stage, Err: err, Hint: hint}
}

// submitter is the migration's.
func (m *Migrator) submitter() submitter {
	return submitter{plc: m.ids.plc, ui: m.ui, prog: m.prog, yes: m.opts.Yes}
}

// opChecks are the checks of an operation that must be the DID's next one
// (needed more: a restore's two operations).
func opChecks(needed int) *plc.CheckOptions {
	return &plc.CheckOptions{RequireSignature: true, OpsNeeded: needed, Now: time.Now()}
}

package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// The PLC directory after a write: one wait after every operation
// submitted, since the directory's read replicas may lag behind a write,
// and the audit log as the judge of what went through.

// lagHint is the hint when the directory took an operation but did not
// show it back in time.
const lagHint = "the PLC directory accepted the operation; run the same command again, which checks the directory for it before anything is sent again"

// awaitOp waits, bounded, until the directory shows op (plc.Client.Await),
// before the next step reads the DID. Every submitter calls it. A timeout or
// a read that keeps failing is resumable (exit 1), with lagHint; s names
// where the run stopped ("" outside a migration: the error then carries the
// hint itself). An op that the log shows superseded is reported as such.
func awaitOp(ctx context.Context, pc *plc.Client, did string, op *didplc.RegularOp, s stage.Stage) (*plc.State, error) {
	st, err := pc.Await(ctx, did, op)
	switch {
	case err == nil:
		return st, nil
	case ctx.Err() != nil:
		return nil, err
	}
	hint := lagHint
	if errors.Is(err, plc.ErrSuperseded) {
		hint = "the DID changed after this operation: check `atmigrate plc log` before anything else"
	}
	return nil, stop(s, err, hint)
}

// relayedApplied judges a failed submission through a PDS's
// submitPlcOperation, which resends only what surely never arrived: the
// audit log says whether the op went through anyway. err is serr, with the
// reason the log could not tell when it could not be read (never dropped).
func relayedApplied(ctx context.Context, pc *plc.Client, did, cid string, serr error) (applied bool, err error) {
	ok, aerr := pc.Applied(ctx, did, cid)
	if aerr != nil {
		return false, fmt.Errorf("%w (and the audit log could not be read to tell whether it went through: %v)", serr, aerr)
	}
	return ok, serr
}

// logLists reports whether cid is in the audit log at all, nullified or not.
func logLists(st *plc.State, cid string) bool {
	for _, e := range st.Log {
		if e.CID == cid {
			return true
		}
	}
	return false
}

// Live reports whether the operation cid is in the audit log and live.
func Live(st *plc.State, cid string) bool {
	for _, e := range st.Log {
		if e.CID == cid && !e.Nullified {
			return true
		}
	}
	return false
}

// stop is a submission's failure: a StageError inside a migration, an
// error with its hint outside one.
func stop(s stage.Stage, err error, hint string) error {
	if s == "" {
		return failure.WithHint(err, hint)
	}
	return &failure.StageError{Stage: s, Err: err, Hint: hint}
}

package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// The PLC directory as every core entry point uses it: one client shape
// (the run's HTTP client, the PDS calls' retry policy, retries reported to
// Progress like theirs) and one wait after every operation submitted, since
// the directory's read replicas may lag behind a write.

func (m *Migrator) newPLC() *plc.Client {
	return servers.NewPLCClient(m.opts.PLCURL, m.srv.HTTPClient, m.opts.Retry, m.prog)
}

// lagHint is the hint when the directory took an operation but did not
// show it back in time.
const lagHint = "the PLC directory accepted the operation; run the same command again, which checks the directory for it before anything is sent again"

// awaitOp waits, bounded, until the directory shows op (plc.Client.Await),
// before the next step reads the DID. Every submitter calls it. A timeout or
// a read that keeps failing is resumable (exit 1), with lagHint; stage names
// where the run stopped ("" outside a migration: the error then carries the
// hint itself). An op that the log shows superseded is reported as such.
func awaitOp(ctx context.Context, pc *plc.Client, did string, op *didplc.RegularOp, stage stage.Stage) (*plc.State, error) {
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
	if stage == "" {
		return nil, failure.WithHint(err, hint)
	}
	return nil, &failure.StageError{Stage: stage, Err: err, Hint: hint}
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

// awaitRecordedOp makes sure st is not older than this state dir's own
// operation: one the directory accepted (PLC.Submitted is set) but st does
// not list at all is waited for, as the run that submitted it did. A re-run
// after a lagging replica must never take the DID for unchanged and sign a
// second operation.
func (m *Migrator) awaitRecordedOp(ctx context.Context, st *plc.State) (*plc.State, error) {
	p := m.st.PLC
	if p.OpCID == "" || p.Submitted.IsZero() || len(p.SignedOp) == 0 || logLists(st, p.OpCID) {
		return st, nil
	}
	op, err := plc.ParseOp(p.SignedOp)
	if err != nil {
		return nil, fmt.Errorf("read the recorded PLC operation %s: %w", p.OpCID, err)
	}
	if plc.OpCID(op) != p.OpCID {
		return st, nil // not the op that was submitted; the identity stage decides
	}
	m.prog.Info(fmt.Sprintf("the PLC directory does not show operation %s yet; waiting for it", p.OpCID))
	return awaitOp(ctx, m.ids.plc, m.did, op, stage.Identity)
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

package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/verify"
	"github.com/atmigrate/atmigrate/plc"
)

// activate activates the new account once the DID points at it. It
// always calls activateAccount, which is idempotent: an implementation
// that creates a migrated account active (cocoon does) still needs the
// call to announce the account to relays. The account's state is read
// from getRepoStatus, before and after.
func (a *newAccount) activate(ctx context.Context) (string, error) {
	if err := a.loginNew(ctx); err != nil {
		return "", err
	}
	before, _ := a.to.pds.GetRepoStatus(ctx, a.did) // only for the note
	effect := Effect{Stage: stage.Activate, What: "activate the account on " + a.opts.NewPDS}
	if err := a.act.act(ctx, effect, a.to.pds.ActivateAccount); errors.Is(err, errRecorded) {
		return "", err
	} else if err != nil {
		return "", &failure.StageError{Stage: stage.Activate, Err: fmt.Errorf("activate the account on %s: %w", a.opts.NewPDS, err),
			Hint: "the DID already points at the new PDS; run the same command again to retry the activation"}
	}
	active, status, err := a.to.accountActive(ctx, a.did)
	if err != nil {
		return "", fmt.Errorf("read the account's status on %s after activating it: %w", a.opts.NewPDS, err)
	}
	if !active {
		return "", &failure.StageError{Stage: stage.Activate,
			Err:  fmt.Errorf("%s accepted the activation but reports the account %s", a.opts.NewPDS, cmp.Or(status, "inactive")),
			Hint: "run the same command again to retry the activation; if it persists, ask the new PDS's admin"}
	}
	if before != nil && before.Active {
		return "active on " + a.opts.NewPDS + " (it already was; activated again so that it announces the account)", nil
	}
	return "active on " + a.opts.NewPDS, nil
}

// finish is the end of the move: the old account deactivated once the
// DID is seen to have moved away, and the final check.
type finish struct {
	*env
	*facts
	sd   *stateDir
	from *origin
	to   *destination
	// acct logs in to the new account.
	acct *newAccount
}

// deactivateOld deactivates the old account, and only after the DID
// is seen, afresh, to resolve to a different server whose account is
// active.
func (f *finish) deactivateOld(ctx context.Context) (string, error) {
	if f.from.pds == nil || f.from.sess == nil {
		return "", fmt.Errorf("no session on the old PDS to deactivate the account with")
	}
	old, err := f.requireMovedAway(ctx)
	if err != nil {
		return "", err
	}
	if old.HasAccount && !old.Active {
		return "", skip("already %s", cmp.Or(old.Status, "inactive"))
	}
	crashpoint.At("before-deactivate")
	effect := Effect{Stage: stage.DeactivateOld, What: "deactivate the account on " + f.sd.st.OldPDS}
	if err := f.act.act(ctx, effect, f.from.pds.DeactivateAccount); errors.Is(err, errRecorded) {
		return "", err
	} else if err != nil {
		return "", &failure.StageError{Stage: stage.DeactivateOld, Err: fmt.Errorf("deactivate the account on %s: %w", f.sd.st.OldPDS, err),
			Hint: "the migration itself is complete; run the same command again to retry, or deactivate the old account later"}
	}
	return "deactivated on " + f.sd.st.OldPDS, nil
}

// requireMovedAway is the guard in front of deactivation: the DID must
// resolve to a server other than the old one (told apart by service DID,
// not by the URL typed), that server must be the new PDS, and the account
// there must be active.
func (f *finish) requireMovedAway(ctx context.Context) (plan.Server, error) {
	st, err := f.ids.State(ctx, f.did)
	if err != nil {
		return plan.Server{}, fmt.Errorf("read the DID's current document: %w", err)
	}
	// The three reads that follow are independent: asked at once.
	var home, old plan.Server
	var key atcrypto.PublicKey
	var keyErr error
	var wg sync.WaitGroup
	wg.Go(func() { home = f.probeServer(ctx, st.Endpoint(), f.to) })
	wg.Go(func() { old = f.probeServer(ctx, f.sd.st.OldPDS, nil) })
	wg.Go(func() { key, keyErr = f.to.signingKey(ctx) })
	wg.Wait()
	return old, f.movedAway(ctx, st, home, old, key, keyErr)
}

// movedAway judges what requireMovedAway read: the DID's document, the
// server it points at (home), the old PDS and the new PDS's key.
func (f *finish) movedAway(ctx context.Context, st *plc.State, home, old plan.Server, key atcrypto.PublicKey, keyErr error) error {
	keep := func(format string, args ...any) error {
		return &failure.StageError{Stage: stage.DeactivateOld, Err: fmt.Errorf(format, args...),
			Hint: "the old account was left active; run the same command again"}
	}
	switch {
	case !home.Reachable:
		return keep("the PDS the DID points at (%s) did not answer", st.Endpoint())
	case !old.Reachable:
		return keep("the old PDS %s did not answer", f.sd.st.OldPDS)
	case home.ServiceDID == old.ServiceDID:
		return keep("the DID still points at the old PDS (%s)", st.Endpoint())
	case home.ServiceDID != f.world.New.ServiceDID:
		return &failure.StageError{Stage: stage.DeactivateOld, Err: fmt.Errorf("the DID points at %s (%s), which is not the new PDS", st.Endpoint(), home.ServiceDID),
			Hint: "someone changed the DID; check `atmigrate plc log`. The old account was left active"}
	case home.AccountUnknown():
		// The public status said nothing either way; the account's own
		// session says whether it is active.
		if as, err := f.to.pds.CheckAccountStatus(ctx); err != nil || !as.Activated {
			return keep("the account on %s is not known to be active (%s)", st.Endpoint(), home.AccountErr)
		}
	case !home.HasAccount || !home.Active:
		return keep("the account on %s is not active", st.Endpoint())
	}
	// The endpoint alone does not make the switch: the DID must name the
	// key the new PDS signs the account's commits with, or nothing it
	// writes verifies (a did.json edited by hand, an operation by another
	// tool).
	if keyErr != nil {
		return keep("the new PDS did not say which key it signs the account with (%v)", keyErr)
	}
	if st.SigningKey() != key.DIDKey() {
		hint := "the old account was left active; check `atmigrate plc log`: the DID must name the new PDS's signing key"
		if identity.IsDIDWeb(f.did) {
			hint = "the old account was left active; publish the did.json the run wrote (" + f.sd.path(identity.DIDWebFile) + ") and run the same command again"
		}
		return &failure.StageError{Stage: stage.DeactivateOld,
			Err:  fmt.Errorf("the DID points at %s but names the signing key %s, not the new PDS's key for the account (%s): the switch is not finished", st.Endpoint(), st.SigningKey(), key.DIDKey()),
			Hint: hint}
	}
	return nil
}

// finalCheck runs the same checks as `atmigrate verify`, in its quick
// form (commit CIDs rather than a second download of both repos; both
// blob lists compared, without fetching each blob back). A check that
// warns does not fail the stage, but its note and a warning say what
// differs, so the run never reports every check passed while the two
// PDSes differ.
func (f *finish) finalCheck(ctx context.Context) (string, error) {
	if err := f.acct.loginNew(ctx); err != nil {
		return "", err
	}
	rep, err := verify.Run(ctx, verify.Options{
		DID:           f.did,
		Document:      f.ids.State,
		Old:           f.from.pds,
		New:           f.to.pds,
		NewPDS:        newEndpoint(f.sd.st, f.opts.NewPDS),
		ExpectOldDown: !f.opts.NoDeactivateOld && f.from.pds != nil,
		Quick:         true,
		LeftBehind:    f.sd.st.Blobs.LeftBehind,
	})
	if err != nil {
		return "", err
	}
	if !rep.OK() {
		return "", &failure.StageError{Stage: stage.FinalCheck, Err: fmt.Errorf("the migrated account differs:\n  %s", rep.Problems()),
			Hint: "run `atmigrate verify` for details; the same command again retries the stages that can fix it"}
	}
	note := rep.Summary()
	var details []string
	for _, w := range rep.Warnings() {
		details = append(details, w.Detail)
		f.prog.Warn(w.Message())
	}
	if len(details) > 0 {
		note += ": " + strings.Join(details, "; ")
	}
	return note, nil
}

package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	atprotoid "github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// preflight is the preflight stage: what it checks of the new PDS and the
// DID before anything is written, and what it records of them.
type preflight struct {
	*env
	*facts
	sd    *stateDir
	from  *origin
	to    *destination
	found *findings
}

// run checks everything about the new PDS and the identity that
// can be checked before anything is written: the new PDS answers as a PDS,
// invites, the handle, and the user's rotation key. The dry run makes the
// same checks (checks) and reports every problem instead of
// stopping at the first.
func (pf *preflight) run(ctx context.Context) (string, error) {
	o := &pf.opts
	info := pf.to.info
	if info == nil {
		return "", fmt.Errorf("%s did not describe itself", o.NewPDS)
	}
	pf.sd.st.NewPDSDID = info.DID
	pf.chooseNewHandle()
	// The run observed the new PDS a moment ago; create-account asks
	// again right before it writes.
	exists := pf.world.New.HasAccount
	if pf.world.New.AccountUnknown() && !pf.sd.st.AccountCreated {
		pf.prog.Info(fmt.Sprintf("%s did not say whether it hosts the account (%s): creating it will tell", o.NewPDS, pf.world.New.AccountErr))
	}
	pf.found.preflight = pf.checks(ctx, info, !exists && !pf.sd.st.AccountCreated)
	if len(pf.found.preflight.Problems) > 0 {
		return "", pf.found.preflight.Problems[0]
	}
	pf.learnOldPDSKeys(ctx)
	if err := pf.sd.save(); err != nil {
		return "", err
	}
	note := fmt.Sprintf("new PDS %s (%s)", o.NewPDS, info.DID)
	if exists {
		note += ", account already there: resuming"
	}
	return note, nil
}

// chooseNewHandle fixes the handle the account gets on the new PDS: the
// one asked for, else the current one.
func (pf *preflight) chooseNewHandle() {
	if pf.sd.st.NewHandle != "" {
		return
	}
	h := pf.opts.NewHandle
	if h == "" {
		h = pf.sd.st.Handle
	}
	pf.sd.st.NewHandle = strings.ToLower(h)
}

// preflightResult is what the preflight found.
type preflightResult struct {
	HandleAllowed, HandleFree bool
	// HandleUnknown is why the new PDS could not say whether the handle
	// is taken (an advisory call that failed).
	HandleUnknown error
	// Problems are what would stop the run, in the order a run meets them.
	Problems []error
}

// checks finds what createAccount would refuse (when newAccount:
// the account is still to be created) and a rotation key the DID does not
// list.
func (pf *preflight) checks(ctx context.Context, info *pds.ServerInfo, newAccount bool) preflightResult {
	r := preflightResult{HandleAllowed: true, HandleFree: true}
	if newAccount {
		pf.checkNewAccountInputs(ctx, info, &r)
	}
	if err := pf.rotationKeyProblem(); err != nil {
		r.Problems = append(r.Problems, err)
	}
	return r
}

// rotationKeyProblem is a --rotation-key that cannot sign this DID's
// operation.
func (pf *preflight) rotationKeyProblem() error {
	if pf.opts.RotationKey == nil {
		return nil
	}
	if identity.IsDIDWeb(pf.did) {
		return failure.Input(identity.ErrDIDWebNoRotation, "drop {rotation-key}: a did:web document is changed by publishing it", "{rotation-key}")
	}
	key, err := plc.DIDKey(pf.opts.RotationKey)
	if err != nil {
		return failure.Input(err, "check {rotation-key}", "cannot read the rotation key")
	}
	if !pf.plcState.HasRotationKey(key) {
		return failure.Input(nil, "use a key that is listed in the DID's rotationKeys (`atmigrate plc log` shows them), or drop {rotation-key} to use the email token",
			"the rotation key %s is not one of %s's current rotation keys", key, pf.did)
	}
	return nil
}

// learnOldPDSKeys asks the old PDS which rotation key is its own: the one
// a migration drops (every other rotation key is the user's and is kept).
func (pf *preflight) learnOldPDSKeys(ctx context.Context) {
	if pf.from.pds == nil || len(pf.sd.st.OldPDSRotationKeys) > 0 {
		return
	}
	if cred, err := pf.from.pds.GetRecommendedDidCredentials(ctx); err == nil {
		pf.sd.st.OldPDSRotationKeys = cred.RotationKeys
	} else {
		pf.prog.Warn(fmt.Sprintf("the old PDS did not say which rotation key is its own (%v); every current rotation key will be kept", err))
	}
}

// checkNewAccountInputs adds to r what createAccount would refuse, before
// anything is written to the new PDS.
func (pf *preflight) checkNewAccountInputs(ctx context.Context, info *pds.ServerInfo, r *preflightResult) {
	o := &pf.opts
	add := func(err error) { r.Problems = append(r.Problems, err) }
	if info.InviteCodeRequired && o.InviteCode == "" {
		add(failure.Input(nil, "ask the new PDS's admin for an invite code and pass {invite-code}", "%s requires an invite code", o.NewPDS))
	}
	if info.PhoneVerificationRequired {
		pf.prog.Warn(o.NewPDS + " requires phone verification for new accounts; the account creation may be refused")
	}
	h := pf.sd.st.NewHandle
	if !handleAllowed(h, info.AvailableUserDomains) && !pf.handleResolvesToDID(ctx, h) {
		r.HandleAllowed = false
		add(failure.Input(nil, fmt.Sprintf("pass {new-handle} with a handle under %s", strings.Join(info.AvailableUserDomains, ", ")),
			"the handle %s is not allowed on %s", h, o.NewPDS))
	}
	// Advisory: createAccount refuses a taken handle anyway.
	did, err := pf.advisoryResolveHandle(ctx, o.NewPDS, h)
	switch {
	case err == nil && did != pf.did:
		r.HandleFree = false
		add(failure.Input(nil, "pass {new-handle} with a free handle", "the handle %s is taken on %s", h, o.NewPDS))
	case err != nil && !handleUnknownErr(err):
		r.HandleUnknown = err
	}
	if pf.from.newEmail(pf.opts.NewEmail) == "" {
		add(failure.Input(nil, "pass {new-email}", "the new PDS needs an email address and the old account has none we can read"))
	}
	if o.NewPassword == "" {
		add(failure.Input(nil, "pass {new-password}", "no password for the new account"))
	}
}

// handleUnknownErr is the answer for a handle nobody holds.
func handleUnknownErr(err error) bool {
	var ae *pds.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest
}

// handleAllowed reports whether the PDS can host handle h. A handle outside
// its domains would need its own DNS or well-known record pointing at the
// DID before createAccount; we do not try that.
func handleAllowed(h string, domains []string) bool {
	for _, d := range domains {
		d = strings.ToLower(d)
		if !strings.HasPrefix(d, ".") {
			d = "." + d
		}
		if strings.HasSuffix(h, d) && len(h) > len(d) {
			return true
		}
	}
	return false
}

// handleResolvesToDID reports whether a custom-domain handle already points
// at the DID (DNS or well-known), which is what the new PDS checks.
func (pf *preflight) handleResolvesToDID(ctx context.Context, h string) bool {
	handle, err := syntax.ParseHandle(h)
	if err != nil {
		return false
	}
	dir := &atprotoid.BaseDirectory{PLCURL: pf.opts.PLCURL, UserAgent: "atmigrate/" + servers.Version}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	did, err := dir.ResolveHandle(rctx, handle)
	return err == nil && did.String() == pf.did
}

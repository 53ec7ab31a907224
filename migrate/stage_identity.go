package migrate

import (
	"cmp"
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The identity stage and what the rest of the run uses of package
// identity, built from the run's parts: the step itself lives there.

// identityStage is the identity stage: it holds what identity.Step is
// built from.
type identityStage struct {
	*env
	*facts
	sd   *stateDir
	from *origin
	to   *destination
	// check is the gate: the new PDS holds everything.
	check *checkStages
}

// run points the DID at the new PDS (identity.Step), gated on
// the new PDS holding every record and blob, and keeps what it saw.
func (is *identityStage) run(ctx context.Context) (string, error) {
	var out identity.Outcome
	effect := Effect{Stage: stage.Identity, What: fmt.Sprintf("point %s at %s with a PLC operation %s", is.did, is.opts.NewPDS, is.signerWords())}
	err := is.act.act(ctx, effect, func(ctx context.Context) (err error) {
		out, err = is.step().Run(ctx)
		return err
	})
	if out.State != nil {
		is.plcState = out.State
	}
	if out.Switched {
		is.identityDone = true
	}
	switch {
	case err != nil:
		return "", err
	case out.Skipped:
		return "", skip("%s", out.Note)
	}
	return out.Note, nil
}

func (is *identityStage) step() identity.Step {
	j := is.sd.journal()
	email := ""
	if is.from.sess != nil {
		email = is.from.sess.Email
	}
	return identity.Step{
		DID: is.did, New: is.to.pds, Target: identityTarget(&is.opts, is.sd.st),
		Resolver: is.ids, Submitter: is.submitter(),
		Signer: identity.Signer{RotationKey: is.opts.RotationKey, Old: is.from.pds, Email: email, Token: is.opts.PLCToken,
			Journal: j, UI: is.ui, Progress: is.prog},
		Journal: j,
		Gate:    is.check.gate,
	}
}

// signerWords says who signs the PLC operation, for the effects' words.
func (is *identityStage) signerWords() string {
	switch {
	case identity.IsDIDWeb(is.did):
		return "(a did:web: the did.json to publish is written to the state dir)"
	case is.opts.RotationKey != nil:
		return "signed with your rotation key"
	}
	return "signed by " + cmp.Or(is.sd.st.OldPDS, "the old PDS") + " with the token it emails"
}

// identityTarget is what this run wants the DID document to say.
func identityTarget(o *Options, st *checkpoint.State) identity.Target {
	return identity.Target{Endpoint: o.NewPDS, Handle: st.NewHandle,
		DropRotationKeys: st.OldPDSRotationKeys, AddRotationKeys: o.AddRotationKeys}
}

// submitter is the migration's: every PLC operation it sends.
func (e *env) submitter() identity.Submitter {
	return identity.Submitter{PLC: e.ids.PLC, UI: e.ui, Progress: e.prog, Yes: e.opts.Yes}
}

// ResolveDID turns o.Account into a DID exactly as Run does: through
// o.OldPDS when set, DNS/HTTPS otherwise, then o.NewPDS.
func ResolveDID(ctx context.Context, o Options) (string, error) {
	o.defaults()
	return resolverFor(o, serversFor(o)).Resolve(ctx, o.Account)
}

// newEndpoint is the new PDS's URL as the DID document must name it:
// the one the state recorded (st may be nil), else the one given.
func newEndpoint(st *checkpoint.State, given string) string {
	if st != nil && st.NewPDSEndpoint != "" {
		return st.NewPDSEndpoint
	}
	return given
}

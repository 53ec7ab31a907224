package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// The identity stage and what the rest of the run uses of package
// identity, built from the Migrator's fields: the step itself lives there.

// stageIdentity points the DID at the new PDS (identity.Step), gated on
// the new PDS holding every record and blob, and keeps what it saw.
func (m *Migrator) stageIdentity(ctx context.Context) (string, error) {
	var out identity.Outcome
	effect := Effect{Stage: stage.Identity, What: fmt.Sprintf("point %s at %s with a PLC operation %s", m.did, m.opts.NewPDS, m.signerWords())}
	err := m.act.act(ctx, effect, func(ctx context.Context) (err error) {
		out, err = m.identityStep().Run(ctx)
		return err
	})
	if out.State != nil {
		m.plcState = out.State
	}
	if out.Switched {
		m.identityDone = true
	}
	switch {
	case err != nil:
		return "", err
	case out.Skipped:
		return "", skip("%s", out.Note)
	}
	return out.Note, nil
}

func (m *Migrator) identityStep() identity.Step {
	j := m.sd.journal()
	email := ""
	if m.from.sess != nil {
		email = m.from.sess.Email
	}
	return identity.Step{
		DID: m.did, New: m.to.pds, Target: m.identityTarget(),
		Resolver: m.ids, Submitter: m.submitter(),
		Signer: identity.Signer{RotationKey: m.opts.RotationKey, Old: m.from.pds, Email: email, Token: m.opts.PLCToken,
			Journal: j, UI: m.ui, Progress: m.prog},
		Journal: j,
		Gate: func(ctx context.Context) error {
			_, err := m.checkNewHasEverything(ctx)
			return err
		},
	}
}

// identityTarget is what this run wants the DID document to say.
func (m *Migrator) identityTarget() identity.Target {
	return identity.Target{Endpoint: m.opts.NewPDS, Handle: m.sd.st.NewHandle,
		DropRotationKeys: m.sd.st.OldPDSRotationKeys, AddRotationKeys: m.opts.AddRotationKeys}
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

// repoVerifyOptions checks a repo of did (its state st) (partial: a `since` diff)
// against identity.RepoKeys (the backup's key in a restore), which it also
// returns for identity.EarlierKeyNote.
func (o *origin) repoVerifyOptions(did string, st *plc.State, partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
	k, _ := o.backupSigningKey()
	return identity.RepoVerifyOptions(did, identity.RepoKeys(k, st), partial)
}

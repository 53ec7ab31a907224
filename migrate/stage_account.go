package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// stageCreateAccount creates the account on the new PDS under the same DID,
// authorised by a service-auth token from the old PDS. An account that is
// already there (an earlier run, another tool) is taken over by logging in,
// never an error.
func (m *Migrator) stageCreateAccount(ctx context.Context) (string, error) {
	o := &m.opts
	if m.sd.st.AccountCreated || m.identityDone {
		if err := m.loginNew(ctx); err != nil {
			return "", err
		}
		return "", skip("the account exists on the new PDS")
	}
	exists, _ := m.accountOnNew(ctx)
	if exists {
		if err := m.loginNew(ctx); err != nil {
			return "", err
		}
		m.sd.st.AccountCreated = true
		return "an account for this DID was already there: taken over", m.sd.save()
	}
	effect := Effect{Stage: stage.CreateAccount, What: fmt.Sprintf("create the account %s (%s) on %s, with a service-auth token from %s", m.sd.st.NewHandle, m.did, o.NewPDS, m.sourceName())}
	if err := m.act.act(ctx, effect, m.createAccount); err != nil {
		return "", err
	}
	crashpoint.At("account-created")
	m.sd.st.AccountCreated = true
	if err := m.sd.save(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s (%s)", m.sd.st.NewHandle, o.NewPDS, m.newAccountWords(ctx)), nil
}

// createAccount asks the old PDS (or the backup's temporary key) for a
// service-auth token and creates the account with it; an account a run
// that died created already is logged in to instead.
func (m *Migrator) createAccount(ctx context.Context) error {
	token, err := m.serviceAuthForCreate(ctx)
	if err != nil {
		return err
	}
	// From here the state dir belongs to this new PDS: a run that dies
	// before it can record the account must not let a different
	// --new-pds take the state dir over.
	m.sd.st.CreatingAccount = true
	if err := m.sd.save(); err != nil {
		return err
	}
	m.to.pds.SetServiceAuth(token)
	_, err = m.to.pds.CreateAccount(ctx, pds.CreateAccountInput{
		DID:        m.did,
		Handle:     m.sd.st.NewHandle,
		Email:      m.from.newEmail(m.opts.NewEmail),
		Password:   m.opts.NewPassword,
		InviteCode: m.opts.InviteCode,
	})
	if pds.ErrorName(err) == "AlreadyExists" {
		// Created by a run that died before it could record it.
		return m.loginNew(ctx)
	}
	if err != nil {
		return createAccountError(err, m.opts.NewPDS)
	}
	return nil
}

// newAccountWords says what state the new PDS created the account in: the
// reference PDS keeps a migrated account deactivated until the switch,
// others create it active. Either way it is activated after the switch.
func (m *Migrator) newAccountWords(ctx context.Context) string {
	rs, err := m.to.pds.GetRepoStatus(ctx, m.did)
	switch {
	case err != nil:
		return "its status not reported; activated after the switch"
	case rs.Active:
		return "the new PDS made it active at once; it is activated again after the switch"
	}
	return "deactivated until the switch"
}

// serviceAuthForCreate asks the old PDS for a token that lets the new PDS
// accept the DID.
func (m *Migrator) serviceAuthForCreate(ctx context.Context) (string, error) {
	if m.from.pds == nil {
		k := &tempKey{env: m.env, facts: m.facts, sd: m.sd, to: m.to}
		if err := k.install(ctx); err != nil {
			return "", err
		}
		return k.serviceAuth()
	}
	tok, err := m.from.pds.GetServiceAuth(ctx, m.to.info.DID, "com.atproto.server.createAccount", serviceAuthTTL)
	if err != nil {
		return "", fmt.Errorf("get a service-auth token from %s: %w", m.sd.st.OldPDS, err)
	}
	return tok, nil
}

// loginNew logs in to the account on the new PDS with the new password.
func (m *Migrator) loginNew(ctx context.Context) error {
	if m.to.pds.DID() == m.did {
		return nil
	}
	_, err := identity.Login{DID: m.did, Handle: m.sd.st.NewHandle, Password: m.opts.NewPassword, PasswordChoice: failure.ChoiceNewPassword,
		Refused: fmt.Sprintf("an account for %s exists on %s but the new password does not open it", m.did, m.opts.NewPDS)}.Open(ctx, m.to.pds)
	return err
}

// accountOnNew asks the new PDS whether it already hosts the DID. unknown
// is why it could not tell (a 500, say, which another implementation
// answers for a DID it does not host): the caller goes on as the state
// file says, and createAccount (AlreadyExists) or a login settles it.
func (m *Migrator) accountOnNew(ctx context.Context) (exists bool, unknown string) {
	s := m.probeServer(ctx, m.opts.NewPDS, m.to)
	switch {
	case !s.Reachable:
		return false, s.Err
	case s.AccountUnknown():
		return false, s.AccountErr
	}
	return s.HasAccount, ""
}

func createAccountError(err error, host string) error {
	switch pds.ErrorName(err) {
	case "InvalidInviteCode":
		return failure.Input(err, "pass a valid {invite-code}", "%s refused the invite code", host)
	case "UnsupportedDomain", "InvalidHandle", "HandleNotAvailable":
		return failure.Input(err, "pass {new-handle} with a handle the new PDS allows", "%s refused the handle", host)
	case "InvalidRequest":
		return failure.Input(err, "check {new-handle} and {new-email}", "%s refused to create the account", host)
	}
	return fmt.Errorf("create the account on %s: %w", host, err)
}

// serviceAuthTTL is how long the createAccount service token lives. The
// reference PDS caps tokens with an lxm at one hour; a minute is plenty as
// it is used at once.
const serviceAuthTTL = 60 * time.Second

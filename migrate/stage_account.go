package migrate

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// newAccount is the account on the new PDS: the stages that create it
// and activate it, and the login to it the later stages use.
type newAccount struct {
	*env
	*facts
	sd   *stateDir
	from *origin
	to   *destination
}

// create creates the account on the new PDS under the same DID,
// authorised by a service-auth token from the old PDS. An account that is
// already there (an earlier run, another tool) is taken over by logging in,
// never an error.
func (a *newAccount) create(ctx context.Context) (string, error) {
	o := &a.opts
	if a.sd.st.AccountCreated || a.identityDone {
		if err := a.loginNew(ctx); err != nil {
			return "", err
		}
		return "", skip("the account exists on the new PDS")
	}
	exists, _ := a.accountOnNew(ctx)
	if exists {
		if err := a.loginNew(ctx); err != nil {
			return "", err
		}
		a.sd.st.AccountCreated = true
		return "an account for this DID was already there: taken over", a.sd.save()
	}
	effect := Effect{Stage: stage.CreateAccount, What: fmt.Sprintf("create the account %s (%s) on %s, with a service-auth token from %s", a.sd.st.NewHandle, a.did, o.NewPDS, a.sourceName())}
	if err := a.act.act(ctx, effect, a.createAccount); err != nil {
		return "", err
	}
	crashpoint.At("account-created")
	a.sd.st.AccountCreated = true
	if err := a.sd.save(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s (%s)", a.sd.st.NewHandle, o.NewPDS, a.newAccountWords(ctx)), nil
}

// createAccount asks the old PDS (or the backup's temporary key) for a
// service-auth token and creates the account with it; an account a run
// that died created already is logged in to instead.
func (a *newAccount) createAccount(ctx context.Context) error {
	token, err := a.serviceAuthForCreate(ctx)
	if err != nil {
		return err
	}
	// From here the state dir belongs to this new PDS: a run that dies
	// before it can record the account must not let a different
	// --new-pds take the state dir over.
	a.sd.st.CreatingAccount = true
	if err := a.sd.save(); err != nil {
		return err
	}
	a.to.pds.SetServiceAuth(token)
	_, err = a.to.pds.CreateAccount(ctx, pds.CreateAccountInput{
		DID:        a.did,
		Handle:     a.sd.st.NewHandle,
		Email:      a.from.newEmail(a.opts.NewEmail),
		Password:   a.opts.NewPassword,
		InviteCode: a.opts.InviteCode,
	})
	if pds.ErrorName(err) == "AlreadyExists" {
		// Created by a run that died before it could record it.
		return a.loginNew(ctx)
	}
	if err != nil {
		return createAccountError(err, a.opts.NewPDS)
	}
	a.createdNow = true
	return nil
}

// sourceName names where the data comes from, for the effects' words.
func (a *newAccount) sourceName() string {
	if a.opts.FromBackup != "" {
		return "the backup's temporary signing key"
	}
	return cmp.Or(a.sd.st.OldPDS, "the old PDS")
}

// newAccountWords says what state the new PDS created the account in: the
// reference PDS keeps a migrated account deactivated until the switch,
// others create it active. Either way it is activated after the switch.
func (a *newAccount) newAccountWords(ctx context.Context) string {
	rs, err := a.to.pds.GetRepoStatus(ctx, a.did)
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
func (a *newAccount) serviceAuthForCreate(ctx context.Context) (string, error) {
	if a.from.pds == nil {
		k := &tempKey{env: a.env, facts: a.facts, sd: a.sd, to: a.to}
		if err := k.install(ctx); err != nil {
			return "", err
		}
		return k.serviceAuth()
	}
	tok, err := a.from.pds.GetServiceAuth(ctx, a.to.info.DID, "com.atproto.server.createAccount", serviceAuthTTL)
	if err != nil {
		return "", fmt.Errorf("get a service-auth token from %s: %w", a.sd.st.OldPDS, err)
	}
	return tok, nil
}

// loginNew logs in to the account on the new PDS with the new password.
func (a *newAccount) loginNew(ctx context.Context) error {
	if a.to.pds.DID() == a.did {
		return nil
	}
	_, err := identity.Login{DID: a.did, Handle: a.sd.st.NewHandle, Password: a.opts.NewPassword, PasswordChoice: failure.ChoiceNewPassword,
		Refused: fmt.Sprintf("an account for %s exists on %s but the new password does not open it", a.did, a.opts.NewPDS)}.Open(ctx, a.to.pds)
	return err
}

// accountOnNew asks the new PDS whether it already hosts the DID. unknown
// is why it could not tell (a 500, say, which another implementation
// answers for a DID it does not host): the caller goes on as the state
// file says, and createAccount (AlreadyExists) or a login settles it.
//
// The run's start asked the same a moment ago (the world): its answer
// stands unless it could not tell. An account made since then by someone
// else is met by createAccount's AlreadyExists, as before.
func (a *newAccount) accountOnNew(ctx context.Context) (exists bool, unknown string) {
	s := a.world.New
	if !s.Reachable || s.AccountUnknown() || a.to.info == nil {
		s = a.probeServer(ctx, a.opts.NewPDS, a.to)
	}
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

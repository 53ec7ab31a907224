package identity

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
)

// Login is how every command logs in with an account's password: a
// migration (old and new PDS), its dry run, an export, plc
// add-rotation-key and verify all open their sessions through Open, so a
// sign-in code, a wrong password or an app password are met the same way
// everywhere.
type Login struct {
	DID, Handle     string
	Password        string
	AuthFactorToken string
	// PasswordChoice and FactorChoice name where the password and the
	// sign-in code come from, for the hints (failure.ChoiceOldPassword, say;
	// FactorChoice defaults to failure.ChoiceAuthFactorToken).
	PasswordChoice, FactorChoice failure.Choice
	// ReadOnly accepts an app-password session: enough to read (an export,
	// verify), not to sign a PLC operation or become the new account's
	// password.
	ReadOnly bool
	// Refused, when set, is the message for a refused password (what it
	// means where this login happens).
	Refused string
}

// Open logs in to the PDS behind c. A PDS that asks for a sign-in code, a
// refused password and an app password where the account password is
// needed are bad input (exit 2) saying what to pass.
func (l Login) Open(ctx context.Context, c *pds.Client) (*pds.Session, error) {
	sess, err := c.Login(ctx, loginIdentifier(l.DID, l.Handle), l.Password, l.AuthFactorToken)
	if err != nil {
		if n := pds.ErrorName(err); l.Refused != "" && (n == "AuthenticationRequired" || n == "InvalidPassword") {
			return nil, failure.Input(nil, "pass the password that account has with "+l.PasswordChoice.Ref(), "%s", l.Refused)
		}
		return nil, loginError(err, c.Host(), l.PasswordChoice.Ref(), cmp.Or(l.FactorChoice, failure.ChoiceAuthFactorToken).Ref())
	}
	if sess.AppPassword() && !l.ReadOnly {
		return nil, failure.Input(nil, fmt.Sprintf("pass the account's own password with %s, not an app password", l.PasswordChoice.Ref()),
			"%s accepted an app password: this needs the account password", c.Host())
	}
	return sess, nil
}

// loginError turns a createSession failure into an error the user can act on.
func loginError(err error, host, flag, factorFlag string) error {
	switch pds.ErrorName(err) {
	case "AuthFactorTokenRequired":
		e := failure.Input(nil, "a sign-in code was emailed to the account's address: run again with "+factorFlag+" CODE",
			"%s asks for a sign-in code (email 2FA)", host)
		e.Code = failure.CodeSignInCode
		return e
	case "AuthenticationRequired", "InvalidPassword":
		return failure.Input(nil, "check "+flag+": an app password does not work, use the account password",
			"%s refused the password", host)
	case "AccountTakedown":
		return failure.Input(err, "the old PDS has taken the account down; a backup and your own rotation key are the way out (atmigrate migrate {from-backup})", "login refused")
	}
	if pds.IsTransient(err) {
		return fmt.Errorf("log in to %s: %w", host, err)
	}
	return failure.Input(err, "check the account and the PDS URL", "log in to %s", host)
}

// loginIdentifier is what to log in with. The reference PDS lowercases
// identifiers, so a did:web with a percent-encoded port ("%3A") can only
// log in by handle.
func loginIdentifier(did, handle string) string {
	if IsDIDWeb(did) && strings.ToLower(did) != did && handle != "" {
		return handle
	}
	return did
}

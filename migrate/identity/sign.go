package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// tokenReRequestAfter is how long a requested PLC email token is taken to
// be still usable: no run asks for another (which voids the first) sooner.
// No server says how long its token lives, so nothing here promises a
// lifetime: the reference PDS keeps it 15 minutes, cocoon 10; this is
// below both.
const tokenReRequestAfter = 9 * time.Minute

// TokenLifeWords is all the tool says of a token's lifetime.
const TokenLifeWords = "tokens are short-lived and the server does not say for how long: use it soon"

// Signer signs a migration's PLC operation: locally with the user's
// rotation key, or by the old PDS with the token it emails.
type Signer struct {
	RotationKey atcrypto.PrivateKey
	// Old is the old PDS, logged in (nil when there is none: a restore
	// from a backup); Email is its session's address, for the prompt.
	Old   *pds.Client
	Email string
	// Token is the email token given on the command line; "" requests one
	// and asks for it.
	Token string
	// Journal records when a token was requested (so that a paused run
	// does not void it by asking again) and how the operation was signed.
	Journal  *checkpoint.Journal
	UI       ui.Prompter
	Progress ui.Progress
}

// Sign signs want locally with the user's rotation key, or has the old
// PDS sign it with the email token.
func (s Signer) Sign(ctx context.Context, want *didplc.RegularOp) (*didplc.RegularOp, error) {
	if s.RotationKey != nil {
		op := *want
		if err := plc.Sign(&op, s.RotationKey); err != nil {
			return nil, fmt.Errorf("sign the PLC operation: %w", err)
		}
		s.Journal.Update(func(st *checkpoint.State) { st.PLC.Method = "rotation-key" })
		return &op, nil
	}
	if s.Old == nil {
		return nil, failure.Input(nil, "pass {rotation-key}", "without the old PDS the PLC operation must be signed with your own rotation key")
	}
	token, err := s.token(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.Old.SignPlcOperation(ctx, token, &pds.Credentials{
		RotationKeys:        want.RotationKeys,
		AlsoKnownAs:         want.AlsoKnownAs,
		VerificationMethods: want.VerificationMethods,
		Services:            toPDSServices(want.Services),
	})
	oldPDS := s.Journal.State().OldPDS
	if err != nil {
		if refused := tokenRefused(err); refused != nil {
			// The next run has a new token emailed: this one is spent.
			_ = recordPLC(s.Journal, func(p *checkpoint.PLCInfo) { p.TokenRequested = time.Time{} })
			return nil, refused
		}
		return nil, fmt.Errorf("have %s sign the PLC operation: %w", oldPDS, err)
	}
	op, err := plc.ParseOp(raw)
	if err != nil {
		return nil, fmt.Errorf("read the operation %s signed: %w", oldPDS, err)
	}
	s.Journal.Update(func(st *checkpoint.State) { st.PLC.Method = "email-token" })
	return op, nil
}

// token returns the email token: given on the command line, typed at the
// prompt after it was requested, or ErrPaused when nobody can type it.
// Data comes first: by the time this runs every record and blob is on the
// new PDS, so the token's short life is never spent waiting on transfers.
func (s Signer) token(ctx context.Context) (string, error) {
	if s.Token != "" {
		return strings.TrimSpace(s.Token), nil
	}
	st := s.Journal.State()
	fresh := !st.PLC.TokenRequested.IsZero() && time.Since(st.PLC.TokenRequested) < tokenReRequestAfter
	if !fresh {
		if err := s.Old.RequestPlcOperationSignature(ctx); err != nil {
			return "", fmt.Errorf("ask %s to email the PLC token: %w", st.OldPDS, err)
		}
		if err := recordPLC(s.Journal, func(p *checkpoint.PLCInfo) { p.TokenRequested = time.Now().UTC() }); err != nil {
			return "", err
		}
		s.Progress.Info(fmt.Sprintf("%s emailed a confirmation token to %s (%s)", st.OldPDS, cmp.Or(s.Email, "the account's address"), TokenLifeWords))
	}
	tok, err := s.UI.PLCToken(s.Email)
	if errors.Is(err, ui.ErrNoTerminal) {
		return "", failure.ErrPaused
	}
	if err != nil {
		return "", err
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", failure.ErrPaused
	}
	return tok, nil
}

func toPDSServices(s map[string]didplc.OpService) map[string]pds.Service {
	out := make(map[string]pds.Service, len(s))
	for k, v := range s {
		out[k] = pds.Service{Type: v.Type, Endpoint: v.Endpoint}
	}
	return out
}

// tokenRefused is the PDS's refusal of the emailed PLC token as the bad
// input it is (nil for any other failure): the migration and plc
// add-rotation-key say it the same way.
func tokenRefused(err error) error {
	switch pds.ErrorName(err) {
	case "InvalidToken", "ExpiredToken", "InvalidEmailToken":
		return failure.Input(err, "check the token in the email (only the newest one counts); if it has expired, run again without {plc-token} to have a new one emailed", "the PDS refused the PLC token")
	}
	return nil
}

// recordPLC changes the state's PLC record through j and saves it.
func recordPLC(j *checkpoint.Journal, fn func(p *checkpoint.PLCInfo)) error {
	j.Update(func(st *checkpoint.State) { fn(&st.PLC) })
	return j.Save()
}

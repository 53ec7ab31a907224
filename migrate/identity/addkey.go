package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// AddKeyOptions asks for a did:key to be put at the top of a DID's
// rotation keys, so that its holder can later move the account (or
// recover it) without the PDS's help.
type AddKeyOptions struct {
	Account         string
	PDS             string // the account's PDS; default from the DID document
	Password        string // needed unless RotationKey is given
	AuthFactorToken string // the sign-in code a PDS with email 2FA asks for
	PLCURL          string
	PLCToken        string
	Key             string // the did:key to add
	// RotationKey signs locally (it must be a current rotation key); no
	// PDS or email token is involved then.
	RotationKey atcrypto.PrivateKey
	Yes         bool
	UI          ui.Prompter
	Progress    ui.Progress
	// HTTPClient reaches the PDS and the PLC directory (nil: the default
	// client, under the default stall limits).
	HTTPClient *http.Client
}

// AddKeyResult says what changed.
type AddKeyResult struct {
	DID          string
	OpCID        string
	RotationKeys []string
	Already      bool // the key was already there; nothing was submitted
}

// AddRotationKey signs and submits an operation that adds o.Key at the top
// of the DID's rotation keys, keeping everything else.
func AddRotationKey(ctx context.Context, o AddKeyOptions) (*AddKeyResult, error) {
	if o.UI == nil {
		o.UI = ui.NoPrompter{}
	}
	o.Progress = ui.OrNop(o.Progress)
	if _, err := atcrypto.ParsePublicDIDKey(o.Key); err != nil {
		return nil, failure.Input(nil, "`atmigrate plc keygen` prints one", "%q is not a did:key", o.Key)
	}
	plcURL := cmp.Or(o.PLCURL, servers.DefaultPLC)
	srv := servers.New(o.HTTPClient, nil, nil, o.Progress)
	ids := Resolver{Servers: srv, PLC: srv.PLC(plcURL), PLCURL: plcURL, OldPDS: servers.NormalURL(o.PDS)}
	did, err := ids.Resolve(ctx, o.Account)
	if err != nil {
		return nil, err
	}
	st, err := ids.PLC.State(ctx, did)
	if err != nil {
		return nil, fmt.Errorf("read the PLC audit log: %w", err)
	}
	res := &AddKeyResult{DID: did}
	if st.HasRotationKey(o.Key) {
		res.Already, res.RotationKeys = true, st.RotationKeys()
		return res, nil
	}
	want, err := plc.BuildAddRotationKey(st, o.Key)
	if err != nil {
		return nil, err
	}
	var op *didplc.RegularOp
	var via *pds.Client // nil: signed here, posted straight to the directory
	if o.RotationKey != nil {
		if op, err = signLocally(st, want, o.RotationKey); err != nil {
			return nil, err
		}
	} else {
		host := ids.OldPDS
		if host == "" {
			host = servers.NormalURL(st.Endpoint())
		}
		via = srv.PDS(host, nil)
		if op, err = signByPDS(ctx, via, Login{DID: did, Handle: st.Handle(), Password: o.Password, AuthFactorToken: o.AuthFactorToken, PasswordChoice: failure.ChoiceOldPassword},
			want, o.PLCToken, o.UI, o.Progress); err != nil {
			return nil, err
		}
	}
	sub := Submitter{PLC: ids.PLC, UI: o.UI, Progress: o.Progress, Yes: o.Yes}
	shown, err := sub.Submit(ctx, Submission{
		DID: did, State: st, Op: op, Want: want, Check: OpChecks(1), Via: via,
		Ask: ui.Confirmation{Question: "Add " + o.Key + " to " + did + "'s rotation keys?", Details: plc.DiffDoc(&st.Op, op),
			What: "the PLC operation", IfNo: "nothing was changed"},
	})
	if err != nil {
		return nil, err
	}
	res.OpCID, res.RotationKeys = plc.OpCID(op), shown.RotationKeys()
	return res, nil
}

// signLocally signs want with key, which must be one of the DID's
// current rotation keys.
func signLocally(st *plc.State, want *didplc.RegularOp, key atcrypto.PrivateKey) (*didplc.RegularOp, error) {
	signer, err := plc.DIDKey(key)
	if err != nil {
		return nil, failure.Input(err, "check {rotation-key}", "cannot use the rotation key")
	}
	if !st.HasRotationKey(signer) {
		return nil, failure.Input(nil, "sign with one of the DID's rotation keys, or drop {rotation-key} to go through the PDS", "%s is not a rotation key of %s", signer, st.DID)
	}
	op := *want
	if err := plc.Sign(&op, key); err != nil {
		return nil, err
	}
	return &op, nil
}

// signByPDS has the account's PDS sign want with its rotation key, which
// needs the account's session and the token it emails: given, typed at
// the prompt, or ErrPaused when nobody can type it.
func signByPDS(ctx context.Context, c *pds.Client, l Login, want *didplc.RegularOp, token string, asker ui.Prompter, prog ui.Progress) (*didplc.RegularOp, error) {
	if _, err := l.Open(ctx, c); err != nil {
		return nil, err
	}
	token = strings.TrimSpace(token)
	if token == "" {
		if err := c.RequestPlcOperationSignature(ctx); err != nil {
			return nil, fmt.Errorf("ask %s to email the PLC token: %w", c.Host(), err)
		}
		prog.Info(c.Host() + " emailed a confirmation token to the account's address (" + TokenLifeWords + ")")
		t, err := asker.PLCToken("")
		if errors.Is(err, ui.ErrNoTerminal) || (err == nil && strings.TrimSpace(t) == "") {
			return nil, failure.ErrPaused
		}
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(t)
	}
	raw, err := c.SignPlcOperation(ctx, token, &pds.Credentials{
		RotationKeys: want.RotationKeys, AlsoKnownAs: want.AlsoKnownAs,
		VerificationMethods: want.VerificationMethods, Services: toPDSServices(want.Services),
	})
	if err != nil {
		if refused := tokenRefused(err); refused != nil {
			return nil, refused
		}
		return nil, fmt.Errorf("have %s sign the operation: %w", c.Host(), err)
	}
	return plc.ParseOp(raw)
}

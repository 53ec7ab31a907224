package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// AddKeyOptions asks for a did:key to be put at the top of a DID's
// rotation keys, so that its holder can later move the account (or
// recover it) without the PDS's help.
type AddKeyOptions struct {
	Account  string
	PDS      string // the account's PDS; default from the DID document
	Password string // needed unless RotationKey is given
	// AuthFactorToken is the sign-in code a PDS with email 2FA asks for.
	AuthFactorToken string
	PLCURL          string
	PLCToken        string
	Key             string // the did:key to add
	// RotationKey signs locally (it must be a current rotation key); no
	// PDS or email token is involved then.
	RotationKey atcrypto.PrivateKey
	Yes         bool
	UI          UI
	Progress    Progress
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
		o.UI = NoUI{}
	}
	if o.Progress == nil {
		o.Progress = NopProgress{}
	}
	if _, err := atcrypto.ParsePublicDIDKey(o.Key); err != nil {
		return nil, inputErr(nil, "`atmigrate plc keygen` prints one", "%q is not a did:key", o.Key)
	}
	m := &Migrator{opts: Options{Account: o.Account, OldPDS: strings.TrimRight(o.PDS, "/"), PLCURL: o.PLCURL}, prog: o.Progress, ui: o.UI}
	m.opts.defaults()
	m.plc = m.newPLC()
	did, err := m.resolveDID(ctx)
	if err != nil {
		return nil, err
	}
	st, err := m.plc.State(ctx, did)
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
	var client *pds.Client
	if o.RotationKey != nil {
		signer, err := plc.DIDKey(o.RotationKey)
		if err != nil {
			return nil, inputErr(err, "check --rotation-key", "cannot use the rotation key")
		}
		if !st.HasRotationKey(signer) {
			return nil, inputErr(nil, "sign with one of the DID's rotation keys, or drop --rotation-key to go through the PDS", "%s is not a rotation key of %s", signer, did)
		}
		c := *want
		if err := plc.Sign(&c, o.RotationKey); err != nil {
			return nil, err
		}
		op = &c
	} else {
		host := m.opts.OldPDS
		if host == "" {
			host = strings.TrimRight(st.Endpoint(), "/")
		}
		client = pds.New(host, pds.Options{UserAgent: "atmigrate/" + Version})
		if _, err := client.Login(ctx, did, o.Password, o.AuthFactorToken); err != nil {
			return nil, loginError(err, host, "--old-password")
		}
		token := strings.TrimSpace(o.PLCToken)
		if token == "" {
			if err := client.RequestPlcOperationSignature(ctx); err != nil {
				return nil, fmt.Errorf("ask %s to email the PLC token: %w", host, err)
			}
			o.Progress.Info(host + " emailed a confirmation token to the account's address (" + TokenLifeWords + ")")
			token, err = o.UI.PLCToken("")
			if errors.Is(err, ErrNoTerminal) || (err == nil && strings.TrimSpace(token) == "") {
				return nil, ErrPaused
			}
			if err != nil {
				return nil, err
			}
		}
		raw, err := client.SignPlcOperation(ctx, strings.TrimSpace(token), &pds.Credentials{
			RotationKeys: want.RotationKeys, AlsoKnownAs: want.AlsoKnownAs,
			VerificationMethods: want.VerificationMethods, Services: toPDSServices(want.Services),
		})
		if err != nil {
			return nil, fmt.Errorf("have %s sign the operation: %w", host, err)
		}
		if op, err = plc.ParseOp(raw); err != nil {
			return nil, err
		}
	}
	if _, err := plc.Check(st, op, want, plc.CheckOptions{RequireSignature: true, OpsNeeded: 1, Now: time.Now()}); err != nil {
		return nil, fmt.Errorf("the operation failed its checks and was not submitted: %w", err)
	}
	if !o.Yes {
		ok, err := o.UI.Confirm("Add "+o.Key+" to "+did+"'s rotation keys?", plc.DiffDoc(&st.Op, op))
		if errors.Is(err, ErrNoTerminal) {
			return nil, inputErr(nil, "pass --yes to confirm without a terminal", "the PLC operation needs confirmation")
		}
		if err != nil || !ok {
			return nil, inputErr(err, "nothing was changed", "stopped at your request")
		}
	}
	res.OpCID = plc.OpCID(op)
	if client != nil {
		raw, err := plc.OpJSON(op)
		if err != nil {
			return nil, err
		}
		if serr := client.SubmitPlcOperation(ctx, raw); serr != nil {
			if ok, err := relayedApplied(ctx, m.plc, did, res.OpCID, serr); !ok {
				return nil, fmt.Errorf("submit the operation through %s: %w", client.Host(), err)
			}
		}
	} else if err := m.plc.Submit(ctx, did, op); err != nil {
		// Submit has read the audit log wherever an attempt's fate was
		// unknown (a second check here once dropped its own error).
		return nil, fmt.Errorf("submit the operation to %s: %w", m.opts.PLCURL, err)
	}
	// A re-run reads the DID first: it must find the key, not a lagging
	// replica's older document.
	shown, err := awaitOp(ctx, m.plc, did, op, "")
	if err != nil {
		return nil, err
	}
	res.RotationKeys = shown.RotationKeys()
	return res, nil
}

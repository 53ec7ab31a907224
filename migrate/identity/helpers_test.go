package identity

import (
	"errors"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Helpers of the package's tests, which run against the fake network
// (internal/fakenet): a PLC directory and two PDSes, A (the account's) and
// B (where it moves).

type fakeNet struct {
	plc     *fakenet.PLC
	a, b    *fakenet.PDS
	did     string
	userKey atcrypto.PrivateKey
}

const fakePassword = "correct horse"

// newFakeNet is an account alice.test on A whose DID lists the user's own
// rotation key first.
func newFakeNet(t *testing.T) *fakeNet {
	t.Helper()
	f := &fakeNet{plc: fakenet.NewPLC(t)}
	f.a = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.b = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.userKey = fakenet.Key(t)
	f.did = f.a.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: fakePassword, Email: "alice@mail.test",
		RecoveryKey: fakenet.DIDKey(t, f.userKey)})
	return f
}

// accountOnB is what a migration has made of B by the identity step: an
// inactive account for the DID, holding A's commit.
func (f *fakeNet) accountOnB(t *testing.T) {
	t.Helper()
	old, _ := f.a.Account(f.did)
	f.b.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "alice.test", Password: fakePassword, Email: "alice@mail.test", Deactivated: true,
		CommitCID: old.CommitCID, Rev: old.Rev})
}

// switchToB is what a migration leaves: the account on B, and the DID
// pointing at B with B's keys.
func (f *fakeNet) switchToB(t *testing.T) {
	t.Helper()
	f.accountOnB(t)
	signing, err := f.b.SigningKeyFor(f.did).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	f.plc.Update(f.did, f.userKey, func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: f.b.PublicURL()}
		op.VerificationMethods["atproto"] = signing.DIDKey()
		op.RotationKeys = []string{fakenet.DIDKey(t, f.userKey), f.b.RotationKey()}
	})
}

// wantInput asserts a bad-input error (exit 2) whose message contains
// each of want.
func wantInput(t *testing.T, err error, want ...string) {
	t.Helper()
	var ie *failure.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want bad input (exit 2) containing %q, got %T %v", want, err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("bad input %q does not say %q", err, w)
		}
	}
}

// wantHint asserts that err's hint contains want.
func wantHint(t *testing.T, err error, want string) {
	t.Helper()
	if h := failure.Hint(err); !strings.Contains(h, want) {
		t.Fatalf("hint %q of %v does not say %q", h, err, want)
	}
}

// scriptedUI answers the questions: token is called for the PLC token,
// confirm (nil: yes) for each confirmation.
type scriptedUI struct {
	token   func() string
	confirm func(question string) bool
}

func (u *scriptedUI) PLCToken(string) (string, error) {
	if u.token == nil {
		return "", ui.ErrNoTerminal
	}
	return u.token(), nil
}

func (u *scriptedUI) Confirm(question, _ string) (bool, error) {
	if u.confirm == nil {
		return true, nil
	}
	return u.confirm(question), nil
}

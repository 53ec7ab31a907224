package verify

import (
	"context"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// A did:web document has no rotation keys: its endpoint and signing key
// are checked, and no rotation-key check is reported, neither passed nor
// failed.
func TestIdentityDIDWeb(t *testing.T) {
	const did = "did:web:alice.example"
	b := fakenet.NewPDS(t, nil, fakenet.PDSOptions{})
	b.AddAccount(fakenet.AccountSpec{DID: did, Handle: "alice.example", Password: password})
	signing, err := b.SigningKeyFor(did).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	doc := &plc.State{DID: did, Op: didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{},
		VerificationMethods: map[string]string{"atproto": signing.DIDKey()},
		Services:            map[string]didplc.OpService{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: b.PublicURL()}},
	}}
	newC := pds.New(b.URL, pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}})
	if _, err := newC.Login(context.Background(), did, password, ""); err != nil {
		t.Fatal(err)
	}
	o := Options{DID: did, New: newC, NewPDS: b.PublicURL(), Quick: true,
		Document: func(_ context.Context, got string) (*plc.State, error) {
			if got != did {
				t.Errorf("document of %s read, want %s", got, did)
			}
			return doc, nil
		}}
	r := run(t, o)
	for _, name := range []string{"did-endpoint", "did-signing-key"} {
		if c := checkNamed(t, r, name); !c.OK || c.Skipped {
			t.Errorf("%+v", c)
		}
	}
	for _, c := range r.Checks {
		if c.Name == "did-rotation-keys" {
			t.Errorf("a did:web reported %+v", c)
		}
	}
	if !r.OK() {
		t.Errorf("%s", r.Problems())
	}
}

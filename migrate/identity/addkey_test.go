package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
)

// AddRotationKey against the fake network: signed locally or through the
// PDS with its email token, and every refusal before anything is sent.

func (f *fakeNet) addKeyOpts(key string) AddKeyOptions {
	return AddKeyOptions{Account: f.did, PLCURL: f.plc.URL, Key: key, Password: fakePassword, Yes: true}
}

// rotationKeys is the DID's current rotation keys.
func (f *fakeNet) rotationKeys(t *testing.T) []string {
	t.Helper()
	data, err := f.plc.Data(f.did)
	if err != nil {
		t.Fatal(err)
	}
	return data.RotationKeys
}

// Signed with the user's own rotation key: the key goes on top, the
// others stay, and adding it again changes nothing.
func TestAddRotationKeyLocally(t *testing.T) {
	f := newFakeNet(t)
	added := fakenet.DIDKey(t, fakenet.Key(t))
	before := f.rotationKeys(t)
	o := f.addKeyOpts(added)
	o.RotationKey, o.Password = f.userKey, ""
	res, err := AddRotationKey(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	keys := f.rotationKeys(t)
	if res.Already || res.OpCID == "" || keys[0] != added || len(keys) != len(before)+1 || strings.Join(keys[1:], " ") != strings.Join(before, " ") {
		t.Fatalf("result %+v, rotation keys %v (before %v)", res, keys, before)
	}
	if n := f.a.Calls("com.atproto.server.createSession"); n != 0 {
		t.Errorf("%d logins to the PDS for a locally signed operation", n)
	}
	ops := len(f.plc.Log(f.did))
	res, err = AddRotationKey(context.Background(), o)
	if err != nil || !res.Already || len(f.plc.Log(f.did)) != ops {
		t.Fatalf("adding it again: %+v %v, %d new operations", res, err, len(f.plc.Log(f.did))-ops)
	}
}

// Through the PDS: the first call has the token emailed and pauses, the
// one with the token adds the key through the PDS's submitPlcOperation.
func TestAddRotationKeyThroughThePDS(t *testing.T) {
	f := newFakeNet(t)
	added := fakenet.DIDKey(t, fakenet.Key(t))
	o := f.addKeyOpts(added)
	if _, err := AddRotationKey(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("without a token: want paused (exit 3), got %v", err)
	}
	if f.a.PLCToken(f.did) == "" || f.rotationKeys(t)[0] == added {
		t.Fatal("no token emailed, or the key added without one")
	}
	o.PLCToken = f.a.PLCToken(f.did)
	res, err := AddRotationKey(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.RotationKeys[0] != added || f.rotationKeys(t)[0] != added {
		t.Fatalf("result keys %v, DID keys %v", res.RotationKeys, f.rotationKeys(t))
	}
	if n := f.a.Calls("com.atproto.identity.submitPlcOperation"); n != 1 {
		t.Errorf("%d submissions through the PDS, want 1", n)
	}
}

func TestAddRotationKeyRefusals(t *testing.T) {
	f := newFakeNet(t)
	added := fakenet.DIDKey(t, fakenet.Key(t))
	cases := []struct {
		name   string
		change func(o *AddKeyOptions)
		want   string
		hint   string
	}{
		{"not a did:key", func(o *AddKeyOptions) { o.Key = "zQ3shnot" }, "is not a did:key", "keygen"},
		{"signer not a rotation key", func(o *AddKeyOptions) { o.RotationKey = fakenet.Key(t) }, "is not a rotation key of", "one of the DID's rotation keys"},
		{"wrong password", func(o *AddKeyOptions) { o.Password = "nope" }, "refused the password", "{old-password}"},
		{"no terminal to confirm", func(o *AddKeyOptions) { o.RotationKey, o.Yes = f.userKey, false }, "needs confirmation", "{yes}"},
		{"the user says no", func(o *AddKeyOptions) {
			o.RotationKey, o.Yes, o.UI = f.userKey, false, &scriptedUI{confirm: func(string) bool { return false }}
		}, "at your request", "nothing was changed"},
	}
	ops := len(f.plc.Log(f.did))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := f.addKeyOpts(added)
			c.change(&o)
			_, err := AddRotationKey(context.Background(), o)
			wantInput(t, err, c.want)
			wantHint(t, err, c.hint)
		})
	}
	if n := len(f.plc.Log(f.did)); n != ops {
		t.Errorf("%d operations after refusals", n-ops)
	}
}

// A wrong or expired email token is bad input (exit 2) that says to check
// the newest email or have a new one sent, as the migration's identity
// stage says (both go through tokenRefused; add-rotation-key once
// returned the refusal as a plain error, exit 1 without a hint).
func TestAddRotationKeyWrongToken(t *testing.T) {
	f := newFakeNet(t)
	o := f.addKeyOpts(fakenet.DIDKey(t, fakenet.Key(t)))
	if _, err := AddRotationKey(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("without a token: %v", err)
	}
	o.PLCToken = "WRONG-TOKEN"
	_, err := AddRotationKey(context.Background(), o)
	wantInput(t, err, "token")
	wantHint(t, err, "token")
}

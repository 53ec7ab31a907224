package verify

import (
	"slices"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// The package's tests build the two sides of a move on the fake network
// directly, as a migration leaves them: verify is checked against the
// state, not against the code that made it (package migrate's tests run
// verify after real moves).

// world is one account on an old PDS (a) and a new one (b), both active,
// the DID pointing at b with b's signing key and rotation key, after the
// user's own key (userKey).
type world struct {
	plc     *fakenet.PLC
	a, b    *fakenet.PDS
	did     string
	userKey atcrypto.PrivateKey
}

const password = "correct horse"

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{plc: fakenet.NewPLC(t), userKey: fakenet.Key(t)}
	w.a = fakenet.NewPDS(t, w.plc, fakenet.PDSOptions{})
	w.b = fakenet.NewPDS(t, w.plc, fakenet.PDSOptions{})
	w.did = w.a.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: password, RecoveryKey: fakenet.DIDKey(t, w.userKey)})
	w.b.AddAccount(fakenet.AccountSpec{DID: w.did, Handle: "alice.test", Password: password})
	signing, err := w.b.SigningKeyFor(w.did).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	w.plc.Update(w.did, w.userKey, func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: w.b.PublicURL()}
		op.VerificationMethods["atproto"] = signing.DIDKey()
		op.RotationKeys = []string{fakenet.DIDKey(t, w.userKey), w.b.RotationKey()}
	})
	return w
}

// moved is a finished move of 12 records and 3 blobs, with preferences:
// the same repo, blobs and preferences on both sides, the old account
// deactivated, the new PDS expecting the blobs the records reference, and
// its latest commit one of its own over the same data.
func moved(t *testing.T) *world {
	t.Helper()
	w := imported(t)
	w.b.SignOwnCommit(w.did)
	return w
}

// imported is moved before the new PDS signed a commit: its latest commit
// is the imported one, signed by the old PDS's key.
func imported(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	car, r, err := repotest.BuildCAR(12, 3, w.a.SigningKeyFor(w.did), w.did)
	if err != nil {
		t.Fatal(err)
	}
	prefs := []byte(`[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`)
	for _, p := range []*fakenet.PDS{w.a, w.b} {
		p.Modify(w.did, func(a *fakenet.Account) {
			a.RepoCAR, a.CommitCID, a.Rev, a.Preferences = slices.Clone(car), r.CommitCID.String(), r.Rev, slices.Clone(prefs)
			for c, data := range r.Blobs {
				a.Blobs[c] = fakenet.Blob{Data: slices.Clone(data), MimeType: "image/jpeg"}
				a.ExpectedBlobs[c] = "at://" + w.did + "/app.bsky.feed.post/x"
			}
		})
	}
	w.a.SetActive(w.did, false)
	return w
}

// checkNamed is the check of r named name; the test fails without one.
func checkNamed(t *testing.T, r *Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, r.Checks)
	return Check{}
}

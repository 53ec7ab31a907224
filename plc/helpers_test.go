package plc

import (
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// fixture is a DID with a realistic history: a genesis op created by the old
// PDS with [user, oldPDS] rotation keys, then a handle change.
type fixture struct {
	t                        testing.TB
	user, oldPDS, newPDS     *atcrypto.PrivateKeyK256
	oldSig, newSig, stranger *atcrypto.PrivateKeyK256
	did                      string
	log                      []didplc.LogEntry
}

func newKey(t testing.TB) *atcrypto.PrivateKeyK256 {
	t.Helper()
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubDID(t testing.TB, k atcrypto.PrivateKey) string {
	t.Helper()
	d, err := DIDKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureAt(t, time.Now())
}

// newFixtureAt is newFixture with the clock fixed: the genesis op is made
// at now-72h and the handle change at now-48h.
func newFixtureAt(t testing.TB, now time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, user: newKey(t), oldPDS: newKey(t), newPDS: newKey(t),
		oldSig: newKey(t), newSig: newKey(t), stranger: newKey(t)}
	gen := didplc.RegularOp{
		Type:         "plc_operation",
		RotationKeys: []string{pubDID(t, f.user), pubDID(t, f.oldPDS)},
		VerificationMethods: map[string]string{
			"atproto": pubDID(t, f.oldSig),
			"labeler": pubDID(t, f.stranger),
		},
		AlsoKnownAs: []string{"at://alice.old.test", "https://alice.example"},
		Services: map[string]didplc.OpService{
			"atproto_pds":     {Type: "AtprotoPersonalDataServer", Endpoint: "https://old.example"},
			"atproto_labeler": {Type: "AtprotoLabeler", Endpoint: "https://labeler.example"},
		},
	}
	if err := gen.Sign(f.oldPDS); err != nil {
		t.Fatal(err)
	}
	did, err := gen.DID()
	if err != nil {
		t.Fatal(err)
	}
	f.did = did
	f.log = []didplc.LogEntry{{DID: did, Operation: didplc.OpEnum{Regular: &gen}, CID: gen.CID().String(), CreatedAt: ts(now.Add(-72 * time.Hour))}}
	f.appendOp(func(op *didplc.RegularOp) { op.AlsoKnownAs[0] = "at://alice2.old.test" }, f.oldPDS, now.Add(-48*time.Hour))
	return f
}

// appendOp adds a signed op derived from the current head.
func (f *fixture) appendOp(mut func(*didplc.RegularOp), signer atcrypto.PrivateKey, at time.Time) {
	f.t.Helper()
	s := f.state()
	op := nextOp(s)
	mut(op)
	if err := op.Sign(signer); err != nil {
		f.t.Fatal(err)
	}
	f.log = append(f.log, didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: op}, CID: op.CID().String(), CreatedAt: ts(at)})
}

func (f *fixture) state() *State {
	f.t.Helper()
	s, err := StateFromLog(f.did, f.log)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// intent is the standard migration from old to new PDS keeping the user key.
func (f *fixture) intent() Intent {
	return Intent{
		Endpoint:         "https://new.example",
		SigningKey:       pubDID(f.t, f.newSig),
		PDSRotationKeys:  []string{pubDID(f.t, f.newPDS)},
		DropRotationKeys: []string{pubDID(f.t, f.oldPDS)},
		Handle:           "alice.new.test",
	}
}

func nowMinus(hours int) time.Time { return time.Now().Add(-time.Duration(hours) * time.Hour) }

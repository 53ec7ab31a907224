package plc

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// historyLog is a hand-built audit log that exercises every rule of
// SigningKeyHistory, each signing-key change an hour-stamped entry:
//
//	-100h legacy create op: signingKey k0 (also a rotation key), recoveryKey user
//	 -80h atproto k1, rotation keys [user, pds]
//	 -50h atproto k2, signed by pds: nullified by the next entry
//	 -49h atproto k3, signed by user, prev = the -80h op (the recovery)
//	 -10h atproto k1 again
//	  -5h a handle change, same key
type historyLog struct {
	did            string
	log            []didplc.LogEntry
	k0, k1, k2, k3 string
	at             map[string]time.Time // entry label -> its time
}

func newHistoryLog(t *testing.T, now time.Time) *historyLog {
	t.Helper()
	user, pds := newKey(t), newKey(t)
	sig := []atcrypto.PrivateKey{newKey(t), newKey(t), newKey(t), newKey(t)}
	h := &historyLog{k0: pubDID(t, sig[0]), k1: pubDID(t, sig[1]), k2: pubDID(t, sig[2]), k3: pubDID(t, sig[3]), at: map[string]time.Time{}}
	for label, hours := range map[string]int{"create": 100, "k1": 80, "k2": 50, "k3": 49, "k1again": 10, "handle": 5} {
		// Whole seconds: the log's timestamps carry milliseconds.
		h.at[label] = now.Add(-time.Duration(hours) * time.Hour).Truncate(time.Second)
	}

	create := &didplc.LegacyOp{Type: "create", SigningKey: h.k0, RecoveryKey: pubDID(t, user), Handle: "alice.test", Service: "https://old.example"}
	if err := create.Sign(sig[0]); err != nil {
		t.Fatal(err)
	}
	did, err := create.DID()
	if err != nil {
		t.Fatal(err)
	}
	h.did = did
	h.log = []didplc.LogEntry{{DID: did, Operation: didplc.OpEnum{Legacy: create}, CID: create.CID().String(), CreatedAt: ts(h.at["create"])}}

	state := func() *State {
		t.Helper()
		s, err := StateFromLog(h.did, h.log)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	add := func(s *State, label string, signer atcrypto.PrivateKey, mut func(*didplc.RegularOp)) {
		t.Helper()
		op := nextOp(s)
		mut(op)
		if err := op.Sign(signer); err != nil {
			t.Fatal(err)
		}
		h.log = append(h.log, didplc.LogEntry{DID: h.did, Operation: didplc.OpEnum{Regular: op}, CID: op.CID().String(), CreatedAt: ts(h.at[label])})
	}
	add(state(), "k1", user, func(op *didplc.RegularOp) {
		op.RotationKeys = []string{pubDID(t, user), pubDID(t, pds)}
		op.VerificationMethods["atproto"] = h.k1
	})
	forkPoint := state()
	add(forkPoint, "k2", pds, func(op *didplc.RegularOp) { op.VerificationMethods["atproto"] = h.k2 })
	add(forkPoint, "k3", user, func(op *didplc.RegularOp) { op.VerificationMethods["atproto"] = h.k3 })
	h.log[2].Nullified = true
	add(state(), "k1again", user, func(op *didplc.RegularOp) { op.VerificationMethods["atproto"] = h.k1 })
	add(state(), "handle", user, func(op *didplc.RegularOp) { op.AlsoKnownAs = []string{"at://alice2.test"} })
	return h
}

// The history is newest first, each key once at its latest span, with the
// time it stopped being current; the nullified op's key is not in it, the
// legacy create op's signingKey is.
func TestSigningKeyHistory(t *testing.T) {
	h := newHistoryLog(t, time.Now())
	s, err := StateFromLog(h.did, h.log)
	if err != nil {
		t.Fatal(err)
	}
	if s.SigningKey() != h.k1 {
		t.Fatalf("fixture: current key %s, want k1", s.SigningKey())
	}
	got := s.SigningKeyHistory()
	want := SigningKeys{
		{DIDKey: h.k1},
		{DIDKey: h.k3, Until: h.at["k1again"]},
		{DIDKey: h.k0, Until: h.at["k1"]},
	}
	if len(got) != len(want) {
		t.Fatalf("history %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].DIDKey != want[i].DIDKey || !got[i].Until.Equal(want[i].Until) {
			t.Errorf("history[%d] = %s until %v, want %s until %v", i, got[i].DIDKey, got[i].Until, want[i].DIDKey, want[i].Until)
		}
	}
	if _, ok := got.Find(h.k2); ok {
		t.Error("the nullified op's key is in the history")
	}
	if _, ok := got.Earlier(h.k1); ok {
		t.Error("the current key counts as an earlier one")
	}
	if k, ok := got.Earlier(h.k0); !ok || !k.Until.Equal(h.at["k1"]) {
		t.Errorf("Earlier(k0) = %+v, %v", k, ok)
	}
	pubs, err := got.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pubs {
		names = append(names, p.DIDKey())
	}
	if !reflect.DeepEqual(names, []string{h.k1, h.k3, h.k0}) {
		t.Errorf("PublicKeys = %v", names)
	}
}

// A document without a log (did:web) has its current key only; none at
// all gives an empty history, which PublicKeys refuses rather than
// returning no key (that would skip the signature check).
func TestSigningKeyHistoryWithoutLog(t *testing.T) {
	k := pubDID(t, newKey(t))
	s := &State{DID: "did:web:example.com", Op: didplc.RegularOp{VerificationMethods: map[string]string{"atproto": k}}}
	if got := s.SigningKeyHistory(); !reflect.DeepEqual(got, SigningKeys{{DIDKey: k}}) {
		t.Errorf("history %+v", got)
	}
	empty := (&State{DID: "did:web:example.com"}).SigningKeyHistory()
	if len(empty) != 0 {
		t.Fatalf("history %+v", empty)
	}
	if _, err := empty.PublicKeys(); err == nil || !strings.Contains(err.Error(), "no atproto signing key") {
		t.Errorf("PublicKeys of an empty history: %v", err)
	}
}

// An earlier key that does not parse is left out; a current one that does
// not is an error.
func TestSigningKeysPublicKeysBadKey(t *testing.T) {
	good := pubDID(t, newKey(t))
	keys := SigningKeys{{DIDKey: good}, {DIDKey: "did:key:zNotAKey", Until: time.Now()}}
	pubs, err := keys.PublicKeys()
	if err != nil || len(pubs) != 1 || pubs[0].DIDKey() != good {
		t.Errorf("PublicKeys = %v, %v", pubs, err)
	}
	if _, err := (SigningKeys{{DIDKey: "did:key:zNotAKey"}}).PublicKeys(); err == nil {
		t.Error("an unparsable current key was accepted")
	}
	if _, err := (SigningKeys{{DIDKey: "did:key:zNotAKey", Until: time.Now()}}).PublicKeys(); err == nil {
		t.Error("a history with no usable key was accepted")
	}
}

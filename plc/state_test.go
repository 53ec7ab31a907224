package plc

import (
	"errors"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"
)

func TestStateFromLog(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	if s.DID != f.did || s.Head.CID != f.log[1].CID {
		t.Fatalf("head = %s, want %s", s.Head.CID, f.log[1].CID)
	}
	if got := s.Handle(); got != "alice2.old.test" {
		t.Errorf("Handle = %q", got)
	}
	if got := s.Endpoint(); got != "https://old.example" {
		t.Errorf("Endpoint = %q", got)
	}
	if got := s.SigningKey(); got != pubDID(t, f.oldSig) {
		t.Errorf("SigningKey = %q", got)
	}
	if !s.HasRotationKey(pubDID(t, f.user)) || s.HasRotationKey(pubDID(t, f.newPDS)) {
		t.Errorf("HasRotationKey wrong: %v", s.RotationKeys())
	}
	if s.Op.Sig != nil {
		t.Error("State.Op must be unsigned")
	}
	// Op is a deep copy: changing it must not change the log.
	s.Op.RotationKeys[0] = "x"
	s.Op.Services["atproto_pds"] = didplc.OpService{}
	if f.log[1].Operation.Regular.RotationKeys[0] == "x" || f.log[1].Operation.Regular.Services["atproto_pds"].Endpoint == "" {
		t.Error("State.Op aliases the log")
	}
	now := time.Now()
	if n := s.OpsSince(now.Add(-60 * time.Hour)); n != 1 {
		t.Errorf("OpsSince(60h) = %d, want 1", n)
	}
	if n := s.OpsSince(now.Add(-100 * time.Hour)); n != 2 {
		t.Errorf("OpsSince(100h) = %d, want 2", n)
	}
}

func TestStateFromLogErrors(t *testing.T) {
	f := newFixture(t)
	if _, err := StateFromLog(f.did, nil); !errors.Is(err, ErrDIDNotFound) {
		t.Errorf("empty log: %v", err)
	}

	// A tampered entry must fail verification.
	bad := append([]didplc.LogEntry{}, f.log...)
	op := CloneOp(bad[1].Operation.Regular)
	op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
	bad[1] = didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: &op}, CID: op.CID().String(), CreatedAt: bad[1].CreatedAt}
	if _, err := StateFromLog(f.did, bad); err == nil {
		t.Error("tampered log verified")
	}

	// Tombstone.
	s := f.state()
	tomb := &didplc.TombstoneOp{Type: "plc_tombstone", Prev: s.Head.CID}
	if err := tomb.Sign(f.user); err != nil {
		t.Fatal(err)
	}
	log := append(append([]didplc.LogEntry{}, f.log...), didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Tombstone: tomb}, CID: tomb.CID().String(), CreatedAt: ts(time.Now())})
	if _, err := StateFromLog(f.did, log); !errors.Is(err, ErrTombstoned) {
		t.Errorf("tombstone: %v", err)
	}
}

// A recovery (the user key overriding an op signed by the PDS key) leaves a
// nullified entry in the log; the head is the recovery op.
func TestStateAfterNullification(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	forkPoint := s.Head.CID
	f.appendOp(func(op *didplc.RegularOp) { op.RotationKeys = op.RotationKeys[1:] }, f.oldPDS, time.Now().Add(-2*time.Hour))
	rec := nextOp(s) // prev = fork point
	rec.AlsoKnownAs[0] = "at://recovered.test"
	if err := rec.Sign(f.user); err != nil {
		t.Fatal(err)
	}
	if *rec.Prev != forkPoint {
		t.Fatal("bad fixture")
	}
	f.log[2].Nullified = true
	f.log = append(f.log, didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: rec}, CID: rec.CID().String(), CreatedAt: ts(time.Now().Add(-time.Hour))})
	s = f.state()
	if s.Head.CID != rec.CID().String() || s.Handle() != "recovered.test" {
		t.Fatalf("head = %s handle %s", s.Head.CID, s.Handle())
	}
	if !s.HasRotationKey(pubDID(t, f.user)) {
		t.Error("user key missing after recovery")
	}
	// The nullified op does not count towards rate limits.
	if n := s.OpsSince(time.Now().Add(-3 * time.Hour)); n != 1 {
		t.Errorf("OpsSince = %d, want 1", n)
	}
}

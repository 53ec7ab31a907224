package plc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// logSeeds are audit logs as a directory sends them: a realistic history,
// one with a hostile change and its nullification, and the malformed
// answers that matter (truncated, deep nesting, a tombstone, an unknown
// operation type, an entry for another DID).
func logSeeds(f *testing.F) map[string][]byte {
	fx, mig, _ := guardFixture(f)
	history, err := json.Marshal(fx.log)
	if err != nil {
		f.Fatal(err)
	}
	fx.nullify(mig, base.Add(2*time.Hour))
	nullified, err := json.Marshal(fx.log)
	if err != nil {
		f.Fatal(err)
	}
	first, err := json.Marshal(fx.log[:1])
	if err != nil {
		f.Fatal(err)
	}
	entry := `{"did":"` + fx.did + `","cid":"bafyreib2rxk3rh6kzwq","createdAt":"2026-11-01T12:00:00.000Z","nullified":false,"operation":`
	return map[string][]byte{
		"history":          history,
		"nullified":        nullified,
		"genesis-only":     first,
		"truncated":        history[:len(history)/2],
		"empty":            []byte(`[]`),
		"null":             []byte(`null`),
		"deep-nesting":     []byte(strings.Repeat("[", 100000)),
		"tombstone":        []byte("[" + entry + `{"type":"plc_tombstone","prev":"bafy","sig":"x"}}]`),
		"unknown-type":     []byte("[" + entry + `{"type":"plc_future"}}]`),
		"legacy-create":    []byte("[" + entry + `{"type":"create","signingKey":"did:key:zQ3sh","recoveryKey":"did:key:zQ3sh","handle":"a.test","service":"https://pds.example","prev":null,"sig":"x"}}]`),
		"other-did":        bytes.Replace(history, []byte(fx.did), []byte("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"), 1),
		"huge-string":      []byte(`[{"did":"` + strings.Repeat("x", 1<<16) + `"}]`),
		"number-overflows": []byte(`[{"did":1e999999}]`),
	}
}

// FuzzAuditLog feeds a directory's audit log answer, whatever its bytes,
// through what reads it: the decode, StateFromLog's verification, the
// signing-key history, the review of later operations and the diff of
// documents. An accepted log gives a state whose head is live and whose
// document re-encodes to JSON that parses again; memory stays within the
// budget.
func FuzzAuditLog(f *testing.F) {
	for name, data := range logSeeds(f) {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() { readAuditLog(t, data) })
	})
}

func readAuditLog(t *testing.T, data []byte) {
	log, err := decodeAuditLog(bytes.NewReader(data))
	if err != nil || len(log) == 0 {
		return
	}
	did := log[0].DID
	s, err := StateFromLog(did, log)
	if err != nil {
		return
	}
	if s.Head.Nullified {
		t.Fatal("the head of an accepted log is nullified")
	}
	out, err := OpJSON(&s.Op)
	if err != nil {
		t.Fatalf("the current document does not encode: %v", err)
	}
	if _, err := ParseOp(out); err != nil {
		t.Fatalf("the current document's JSON does not parse again: %v\n%s", err, out)
	}
	hist := s.SigningKeyHistory()
	_, _ = hist.PublicKeys()
	if len(hist) > 0 {
		if _, ok := hist.Find(hist[0].DIDKey); !ok {
			t.Fatalf("the newest signing key %s is not found in its own history", hist[0].DIDKey)
		}
	}
	_ = s.OpsSince(base)
	if r, err := NewReview(did, log, log[0].CID, base); err == nil {
		_ = r.Changed()
		_ = r.CanNullify(s.SigningKey())
	}
	if first := docOf(log[0]); first != nil {
		_ = DiffDoc(first, &s.Op)
		_ = Changes(first, &s.Op)
	}
}

// FuzzCheckOp feeds an operation, as the old PDS's signPlcOperation or a
// state file hands it back, to Check against a real DID's state, the check
// that guards every submission. Whatever the bytes, Check returns a report;
// an operation it passes is signed by a current rotation key, names the
// head as prev and is under the directory's size limit.
func FuzzCheckOp(f *testing.F) {
	fx := newFixtureAt(f, base)
	s := fx.state()
	want := nextOp(s)
	if err := want.Sign(fx.user); err != nil {
		f.Fatal(err)
	}
	signed, err := OpJSON(want)
	if err != nil {
		f.Fatal(err)
	}
	unsigned := *want
	unsigned.Sig = nil
	unsignedJSON, err := OpJSON(&unsigned)
	if err != nil {
		f.Fatal(err)
	}
	fuzzcheck.Seed(f, "signed", []byte(signed))
	fuzzcheck.Seed(f, "unsigned", []byte(unsignedJSON))
	fuzzcheck.Seed(f, "flipped-endpoint", bytes.Replace(signed, []byte("old.example"), []byte("new.example"), 1))
	fuzzcheck.Seed(f, "many-keys", []byte(`{"type":"plc_operation","rotationKeys":["`+strings.Repeat(`did:key:zQ3sh","`, 2000)+`"],"verificationMethods":{},"alsoKnownAs":[],"services":{},"prev":null,"sig":"x"}`))
	fuzzcheck.Seed(f, "tombstone", []byte(`{"type":"plc_tombstone","prev":"bafy","sig":"x"}`))
	opts := CheckOptions{RequireSignature: true, Now: base.Add(time.Hour)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzcheck.Alloc(t, len(raw), func() {
			op, err := ParseOp(raw)
			if err != nil {
				return
			}
			rep, err := Check(s, op, want, opts)
			if rep == nil {
				t.Fatal("no report")
			}
			if err != nil {
				return
			}
			if rep.SignerIndex < 0 || op.Prev == nil || *op.Prev != s.Head.CID || rep.SignedBytes > MaxOpBytes {
				t.Fatalf("passed: signer %d, prev %v, %d bytes", rep.SignerIndex, op.Prev, rep.SignedBytes)
			}
		})
	})
}

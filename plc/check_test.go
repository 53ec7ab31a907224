package plc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// signedCopy returns a signed deep copy of op, after mut (if any).
func signedCopy(t *testing.T, op *didplc.RegularOp, key atcrypto.PrivateKey, mut func(*didplc.RegularOp)) *didplc.RegularOp {
	t.Helper()
	c := CloneOp(op)
	if mut != nil {
		mut(&c)
	}
	if key != nil {
		if err := Sign(&c, key); err != nil {
			t.Fatal(err)
		}
	}
	return &c
}

func mustProblems(t *testing.T, err error, wantSubstrings ...string) []string {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CheckError, got %v", err)
	}
	for _, w := range wantSubstrings {
		found := false
		for _, p := range ce.Problems {
			if strings.Contains(p, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem mentions %q; problems: %q", w, ce.Problems)
		}
	}
	return ce.Problems
}

func TestCheckAccepts(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	want, err := BuildUpdate(s, f.intent())
	if err != nil {
		t.Fatal(err)
	}
	opts := CheckOptions{RequireSignature: true, OpsNeeded: 2}

	// Signed locally with the user key.
	rep, err := Check(s, signedCopy(t, want, f.user, nil), want, opts)
	if err != nil {
		t.Fatalf("user-signed op refused: %v", err)
	}
	if rep.SignerIndex != 0 || rep.SignedBytes <= 0 || rep.SignedBytes > MaxOpBytes || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}

	// Signed by the old PDS (signPlcOperation): accepted, with a warning.
	op := signedCopy(t, want, f.oldPDS, nil)
	// Round-trip through JSON as it would arrive from the PDS.
	raw, err := OpJSON(op)
	if err != nil {
		t.Fatal(err)
	}
	op, err = ParseOp(raw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = Check(s, op, want, opts)
	if err != nil {
		t.Fatalf("pds-signed op refused: %v", err)
	}
	if rep.SignerIndex != 1 || len(rep.Warnings) != 1 {
		t.Errorf("report = %+v", rep)
	}

	// Unsigned is fine when no signature is required yet.
	rep, err = Check(s, want, want, CheckOptions{})
	if err != nil || rep.SignerIndex != -1 || rep.SignedBytes <= 0 {
		t.Errorf("unsigned: %+v %v", rep, err)
	}
}

func TestCheckRejects(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	want, err := BuildUpdate(s, f.intent())
	if err != nil {
		t.Fatal(err)
	}
	opts := CheckOptions{RequireSignature: true}
	manyKeys := func(n int) []string {
		var ks []string
		for range n {
			ks = append(ks, pubDID(t, newKey(t)))
		}
		return ks
	}

	cases := []struct {
		name string
		op   func() *didplc.RegularOp
		// self: the intended op is the op itself (cases about PLC limits,
		// not about differing from the plan).
		self  bool
		match []string
	}{
		{"wrong prev", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { p := f.log[0].CID; o.Prev = &p })
		}, false, []string{"prev is"}},
		{"missing prev", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { o.Prev = nil })
		}, false, []string{"prev is <none>"}},
		{"wrong type", func() *didplc.RegularOp {
			o := CloneOp(want)
			o.Type = "" // as didplc.NewAtproto leaves it
			if err := o.Sign(f.user); err != nil {
				t.Fatal(err)
			}
			return &o
		}, false, []string{"type is"}},
		{"non-rotation key", func() *didplc.RegularOp { return signedCopy(t, want, f.newPDS, nil) }, false, []string{"signature does not verify"}},
		{"tampered after signing", func() *didplc.RegularOp {
			op := signedCopy(t, want, f.user, nil)
			op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
			return op
		}, false, []string{"signature does not verify", "services differ", "evil.example"}},
		{"endpoint differs from want", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) {
				o.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://other.example"}
			})
		}, false, []string{"services differ", "atproto_pds"}},
		{"user key missing", func() *didplc.RegularOp {
			// What a PDS using its recommended credentials verbatim would sign.
			return signedCopy(t, want, f.oldPDS, func(o *didplc.RegularOp) { o.RotationKeys = []string{pubDID(t, f.newPDS)} })
		}, false, []string{"rotationKeys differ", "missing " + pubDID(t, f.user)}},
		{"key order differs", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { o.RotationKeys[0], o.RotationKeys[1] = o.RotationKeys[1], o.RotationKeys[0] })
		}, false, []string{"intended operation: different order"}},
		{"signing key differs", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { o.VerificationMethods["atproto"] = pubDID(t, f.stranger) })
		}, false, []string{"verificationMethods differ"}},
		{"handle differs", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { o.AlsoKnownAs = []string{"at://mallory.test"} })
		}, false, []string{"alsoKnownAs differ"}},
		{"more than 10 keys", func() *didplc.RegularOp {
			w := CloneOp(want)
			w.RotationKeys = append(w.RotationKeys, manyKeys(9)...)
			return signedCopy(t, &w, f.user, nil)
		}, true, []string{"11 rotation keys"}},
		{"no keys", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) { o.RotationKeys = []string{} })
		}, true, []string{"no rotation keys"}},
		{"too big", func() *didplc.RegularOp {
			return signedCopy(t, want, f.user, func(o *didplc.RegularOp) {
				for i := range 8 { // stays within 10 entries: only the size is wrong
					o.AlsoKnownAs = append(o.AlsoKnownAs, fmt.Sprintf("https://%d.example/%s", i, strings.Repeat("x", 600)))
				}
			})
		}, true, []string{"bytes, the PLC accepts at most 4000"}},
		{"unsigned", func() *didplc.RegularOp { return signedCopy(t, want, nil, nil) }, false, []string{"not signed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op()
			w := want
			if c.self {
				u := CloneOp(op)
				u.Sig = nil
				w = &u
			}
			_, err := Check(s, op, w, opts)
			mustProblems(t, err, c.match...)
		})
	}
}

func TestCheckWarnsAboveFiveKeys(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	in := f.intent()
	for range 4 {
		in.AddRotationKeys = append(in.AddRotationKeys, pubDID(t, newKey(t)))
	}
	want, err := BuildUpdate(s, in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(s, signedCopy(t, want, f.user, nil), want, CheckOptions{RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "more than 5") {
		t.Errorf("warnings = %q", rep.Warnings)
	}
}

func TestCheckRateLimit(t *testing.T) {
	f := newFixture(t)
	start := time.Now().Add(-50 * time.Minute)
	for i := range 10 {
		f.appendOp(func(o *didplc.RegularOp) { o.AlsoKnownAs[0] = fmt.Sprintf("at://a%d.test", i) }, f.user, start.Add(time.Duration(i)*time.Minute))
	}
	s := f.state()
	want, err := BuildUpdate(s, f.intent())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check(s, signedCopy(t, want, f.user, nil), want, CheckOptions{RequireSignature: true})
	mustProblems(t, err, "rate limit: 10 operations in the last hour")

	// An hour later the hourly window is clear, but 2 more ops would be fine.
	_, err = Check(s, signedCopy(t, want, f.user, nil), want, CheckOptions{RequireSignature: true, OpsNeeded: 2, Now: time.Now().Add(time.Hour)})
	if err != nil {
		t.Errorf("after an hour: %v", err)
	}
	// But 21 more would break the daily limit (10 already in the last 24 hours).
	_, err = Check(s, signedCopy(t, want, f.user, nil), want, CheckOptions{RequireSignature: true, OpsNeeded: 21, Now: time.Now().Add(time.Hour)})
	mustProblems(t, err, "last 24 hours")
}

func TestCheckListsEveryProblem(t *testing.T) {
	f := newFixture(t)
	s := f.state()
	want, err := BuildUpdate(s, f.intent())
	if err != nil {
		t.Fatal(err)
	}
	op := signedCopy(t, want, f.stranger, func(o *didplc.RegularOp) {
		p := f.log[0].CID
		o.Prev = &p
		o.RotationKeys = []string{pubDID(t, f.newPDS)}
		o.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
	})
	probs := mustProblems(t, err2(Check(s, op, want, CheckOptions{RequireSignature: true})),
		"prev is", "signature does not verify", "rotationKeys differ", "services differ")
	if len(probs) != 4 {
		t.Errorf("problems = %q", probs)
	}
	var ce *CheckError
	errors.As(err2(Check(s, op, want, CheckOptions{})), &ce)
	if msg := ce.Error(); !strings.Contains(msg, "prev is") || !strings.Contains(msg, "services differ") {
		t.Errorf("Error() = %s", msg)
	}
}

func err2(_ *CheckReport, err error) error { return err }

package plc

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// PLC directory limits (@did-plc/server constraints.ts).
const (
	// MaxOpBytes is the largest signed operation (DAG-CBOR) the PLC accepts.
	MaxOpBytes = 4000
	// MaxRotationKeys is the PLC's hard limit on rotation keys.
	MaxRotationKeys = 10
	// SoftMaxRotationKeys is the limit in the spec text, which some PLC
	// servers enforce; going above it is only a warning.
	SoftMaxRotationKeys = 5
	// maxEntries bounds alsoKnownAs, services and verificationMethods.
	maxEntries = 10
	// Per-DID operation rate limits. They are not applied to recovery ops,
	// but a migration's ops are regular updates.
	opsPerHour = 10
	opsPerDay  = 30
	opsPerWeek = 100
)

// CheckOptions tunes Check.
type CheckOptions struct {
	// RequireSignature makes an unsigned operation a problem.
	RequireSignature bool
	// OpsNeeded is how many operations this run still has to submit,
	// including this one (0 is taken as 1), for the rate limits.
	OpsNeeded int
	// Now is the time the operation will be submitted (zero: time.Now()).
	Now time.Time
}

// CheckReport describes an operation that passed Check.
type CheckReport struct {
	Warnings []string
	// SignedBytes is the size of the signed DAG-CBOR (estimated with a
	// placeholder signature when the op is unsigned).
	SignedBytes int
	// SignerIndex is the index of the signing key in the current rotation
	// keys, -1 if the op is unsigned.
	SignerIndex int
}

// Check verifies op locally before it is submitted. want is the operation
// we intended (from a Build* function); op is what will be submitted, for
// example as returned signed by the old PDS's signPlcOperation, or signed
// locally. It returns a *CheckError listing every problem found, not just
// the first; the report is returned either way.
//
// Problems: type is not plc_operation; prev is not the head; the signature
// does not verify against a current rotation key; rotationKeys (order
// included), verificationMethods, services or alsoKnownAs differ from
// want's; signed size over MaxOpBytes; no rotation key or more than
// MaxRotationKeys; malformed or duplicate keys; the per-DID rate limits
// (10/hour, 30/day, 100/week) would be exceeded; appending the op to the log
// would not pass didplc.VerifyOpLog.
func Check(s *State, op, want *didplc.RegularOp, opts CheckOptions) (*CheckReport, error) {
	rep := &CheckReport{SignerIndex: -1}
	if s == nil || op == nil || want == nil {
		return rep, &CheckError{Problems: []string{"nothing to check: missing state, operation or intended operation"}}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	needed := max(opts.OpsNeeded, 1)
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	if op.Type != "plc_operation" {
		add("type is %q, want \"plc_operation\"", op.Type)
	}
	prevOK := op.Prev != nil && *op.Prev == s.Head.CID
	if !prevOK {
		got := "<none>"
		if op.Prev != nil {
			got = *op.Prev
		}
		add("prev is %s, want the current head %s (the DID changed since the operation was built, or it was built for another DID)", got, s.Head.CID)
	}

	// Signature against the CURRENT rotation keys (the head op's).
	sigOK := false
	if op.IsSigned() {
		idx, err := didplc.VerifySignatureAny(op, s.headOp().EquivalentRotationKeys())
		if err != nil {
			add("signature does not verify against any current rotation key (signed by a key not in rotationKeys, or the operation was changed after signing): %v", err)
		} else {
			sigOK = true
			rep.SignerIndex = idx
			if idx > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf(
					"signed with rotation key #%d (%s): the higher-priority keys above it can override this operation for 72 hours",
					idx, s.headOp().EquivalentRotationKeys()[idx]))
			}
		}
	} else if opts.RequireSignature {
		add("operation is not signed")
	}

	// Content must be exactly what we intended.
	if !slices.Equal(op.RotationKeys, want.RotationKeys) {
		add("rotationKeys differ from the intended operation: %s", listDiff(want.RotationKeys, op.RotationKeys))
	}
	if d := mapDiff(want.VerificationMethods, op.VerificationMethods, func(v string) string { return v }); d != "" {
		add("verificationMethods differ from the intended operation: %s", d)
	}
	if d := mapDiff(want.Services, op.Services, fmtService); d != "" {
		add("services differ from the intended operation: %s", d)
	}
	if !slices.Equal(op.AlsoKnownAs, want.AlsoKnownAs) {
		add("alsoKnownAs differ from the intended operation: %s", listDiff(want.AlsoKnownAs, op.AlsoKnownAs))
	}

	// Structural limits.
	switch n := len(op.RotationKeys); {
	case n == 0:
		add("no rotation keys: nobody could ever update this DID again")
	case n > MaxRotationKeys:
		add("%d rotation keys, the PLC accepts at most %d", n, MaxRotationKeys)
	case n > SoftMaxRotationKeys:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d rotation keys: some PLC servers refuse more than %d", n, SoftMaxRotationKeys))
	}
	seen := map[string]bool{}
	for i, k := range op.RotationKeys {
		if seen[k] {
			add("rotation key %s is listed twice", k)
		}
		seen[k] = true
		if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
			add("rotation key #%d %q is not a valid did:key: %v", i, k, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(op.VerificationMethods)) {
		if _, err := atcrypto.ParsePublicDIDKey(op.VerificationMethods[name]); err != nil {
			add("verification method %q is not a valid did:key: %v", name, err)
		}
	}
	if n := len(op.AlsoKnownAs); n > maxEntries {
		add("%d alsoKnownAs entries, the PLC accepts at most %d", n, maxEntries)
	}
	if n := len(op.Services); n > maxEntries {
		add("%d services, the PLC accepts at most %d", n, maxEntries)
	}
	if n := len(op.VerificationMethods); n > maxEntries {
		add("%d verification methods, the PLC accepts at most %d", n, maxEntries)
	}

	rep.SignedBytes = signedSize(op)
	if rep.SignedBytes > MaxOpBytes {
		add("signed operation is %d bytes, the PLC accepts at most %d", rep.SignedBytes, MaxOpBytes)
	}

	// Rate limits, counted the way the PLC does: existing non-nullified ops
	// in the window plus the ones we are about to send.
	for _, l := range []struct {
		window time.Duration
		limit  int
		name   string
	}{{time.Hour, opsPerHour, "hour"}, {24 * time.Hour, opsPerDay, "24 hours"}, {7 * 24 * time.Hour, opsPerWeek, "week"}} {
		if have := s.OpsSince(now.Add(-l.window)); have+needed > l.limit {
			add("rate limit: %d operations in the last %s plus %d to send exceeds the PLC's %d per %s; wait before retrying",
				have, l.name, needed, l.limit, l.name)
		}
	}

	// Replay the whole log with the op appended, as the directory will.
	if sigOK && prevOK {
		if err := verifyAppended(s, op, now); err != nil {
			add("the operation would not be accepted after the current log: %v", err)
		}
	}

	if len(problems) > 0 {
		return rep, &CheckError{Problems: problems}
	}
	return rep, nil
}

// verifyAppended runs didplc.VerifyOpLog on the log plus op, created at now
// (or just after the head, if the local clock is behind the log).
func verifyAppended(s *State, op *didplc.RegularOp, now time.Time) error {
	at := now.UTC()
	if headAt, err := parseCreatedAt(s.Head.CreatedAt); err == nil && !at.After(headAt) {
		at = headAt.Add(time.Millisecond)
	}
	c := CloneOp(op)
	entries := append(slices.Clone(s.Log), didplc.LogEntry{
		DID:       s.DID,
		Operation: didplc.OpEnum{Regular: &c},
		CID:       c.CID().String(),
		CreatedAt: at.Format("2006-01-02T15:04:05.000Z"),
	})
	return didplc.VerifyOpLog(entries)
}

// placeholderSig has the length of a real signature (64 bytes, base64url).
var placeholderSig = strings.Repeat("A", 86)

func signedSize(op *didplc.RegularOp) int {
	if op.IsSigned() {
		return len(op.SignedCBORBytes())
	}
	c := CloneOp(op)
	c.Sig = &placeholderSig
	return len(c.SignedCBORBytes())
}

func fmtService(s didplc.OpService) string {
	return s.Type + " " + s.Endpoint
}

// listDiff says how got differs from want: entries missing, entries not
// intended, or the same entries in another order.
func listDiff(want, got []string) string {
	var parts []string
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "not intended "+strings.Join(extra, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "different order or duplicates")
	}
	return fmt.Sprintf("%s (got [%s], intended [%s])", strings.Join(parts, "; "),
		strings.Join(got, ", "), strings.Join(want, ", "))
}

// mapDiff lists the keys whose values differ ("" if the maps are equal).
func mapDiff[V comparable](want, got map[string]V, show func(V) string) string {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case wok && !gok:
			parts = append(parts, fmt.Sprintf("%s missing (intended %s)", k, show(w)))
		case !wok && gok:
			parts = append(parts, fmt.Sprintf("%s = %s not intended", k, show(g)))
		case w != g:
			parts = append(parts, fmt.Sprintf("%s = %s, intended %s", k, show(g), show(w)))
		}
	}
	return strings.Join(parts, "; ")
}

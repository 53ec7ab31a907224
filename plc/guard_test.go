package plc

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"
)

// base is the fixed clock of the guard tests: the migration's operation is
// made at base, the hostile one an hour later.
var base = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// guardFixture is a migrated DID (rotation keys [user, newPDS], signed by
// the user at base) followed by a hostile endpoint change signed by the
// new PDS's key at base+1h. It returns the two CIDs.
func guardFixture(t testing.TB) (f *fixture, mig, hostile string) {
	t.Helper()
	f = newFixtureAt(t, base)
	f.appendOp(func(op *didplc.RegularOp) {
		op.RotationKeys = []string{pubDID(t, f.user), pubDID(t, f.newPDS)}
		op.VerificationMethods["atproto"] = pubDID(t, f.newSig)
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://new.example"}
	}, f.user, base)
	f.appendOp(func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
	}, f.newPDS, base.Add(time.Hour))
	return f, f.log[2].CID, f.log[3].CID
}

func review(t testing.TB, f *fixture, keep string, now time.Time) *Review {
	t.Helper()
	r, err := NewReview(f.did, f.log, keep, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// nullify signs a recovery to keep with key at now and applies it to the
// log as the directory would (later entries nullified, the op appended).
func (f *fixture) nullify(keep string, now time.Time) string {
	f.t.Helper()
	r := review(f.t, f, keep, now)
	op, err := r.BuildNullify(f.user)
	if err != nil {
		f.t.Fatal(err)
	}
	i := slices.IndexFunc(f.log, func(e didplc.LogEntry) bool { return e.CID == r.Kept.CID })
	for j := i + 1; j < len(f.log); j++ {
		f.log[j].Nullified = true
	}
	f.log = append(f.log, didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: op}, CID: OpCID(op), CreatedAt: ts(now)})
	return OpCID(op)
}

func TestReviewLaterOps(t *testing.T) {
	f, mig, hostile := guardFixture(t)
	now := base.Add(3 * time.Hour)
	r := review(t, f, mig, now)
	if !r.Changed() || len(r.Later) != 1 || r.Later[0].CID != hostile {
		t.Fatalf("later = %+v, want the hostile op", r.Later)
	}
	l := r.Later[0]
	if l.Signer != pubDID(t, f.newPDS) || l.SignerIndex != 1 {
		t.Errorf("signer = [%d] %s, want [1] the new PDS's key", l.SignerIndex, l.Signer)
	}
	want := []string{
		"services: - atproto_pds: https://new.example (AtprotoPersonalDataServer)",
		"services: + atproto_pds: https://evil.example (AtprotoPersonalDataServer)",
	}
	if !slices.Equal(l.Changes, want) {
		t.Errorf("changes = %q, want %q", l.Changes, want)
	}
	if got := l.Left(now); got != 70*time.Hour {
		t.Errorf("left = %s, want 70h", got)
	}
	if !l.WindowEnds.Equal(base.Add(73 * time.Hour)) {
		t.Errorf("window ends %s", l.WindowEnds)
	}
	if r.Kept.CID != mig || r.Asked.CID != mig || r.Kept.SignerIndex != 0 || len(r.Kept.Overriders) != 0 {
		t.Errorf("kept = %s signed by [%d], overriders %v; want the migration op, [0], none", r.Kept.CID, r.Kept.SignerIndex, r.Kept.Overriders)
	}
	if !slices.Equal(l.Overriders, []string{pubDID(t, f.user)}) {
		t.Errorf("the hostile op's overriders = %v, want the user key", l.Overriders)
	}
	if !slices.Equal(r.Allowed, []string{pubDID(t, f.user)}) {
		t.Errorf("allowed = %v, want the user key only", r.Allowed)
	}
	if r.Head().CID != hostile || !r.WindowEnds().Equal(l.WindowEnds) {
		t.Errorf("head %s, window %s", r.Head().CID, r.WindowEnds())
	}
}

// TestCanNullifyWindow is the 72-hour arithmetic and the key checks, with
// the clock fixed: the hostile op was made at base+1h.
func TestCanNullifyWindow(t *testing.T) {
	f, mig, _ := guardFixture(t)
	made := base.Add(time.Hour)
	for _, c := range []struct {
		name string
		now  time.Time
		key  string
		want error
		left time.Duration
	}{
		{"user key, just after", made.Add(time.Minute), pubDID(t, f.user), nil, 72*time.Hour - time.Minute},
		{"user key, a minute left", made.Add(72*time.Hour - time.Minute), pubDID(t, f.user), nil, time.Minute},
		{"user key, exactly 72h", made.Add(72 * time.Hour), pubDID(t, f.user), nil, 0},
		{"user key, 72h and 1ms", made.Add(72*time.Hour + time.Millisecond), pubDID(t, f.user), ErrWindowClosed, 0},
		{"user key, a week later", made.Add(7 * 24 * time.Hour), pubDID(t, f.user), ErrWindowClosed, 0},
		{"the signer's own key", made.Add(time.Hour), pubDID(t, f.newPDS), ErrKeyNotHighEnough, 71 * time.Hour},
		{"a key of earlier ops only", made.Add(time.Hour), pubDID(t, f.oldPDS), ErrNotRotationKey, 71 * time.Hour},
		{"a stranger's key", made.Add(time.Hour), pubDID(t, f.stranger), ErrNotRotationKey, 71 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := review(t, f, mig, c.now)
			err := r.CanNullify(c.key)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("CanNullify = %v, want %v", err, c.want)
			}
			if got := r.Later[0].Left(c.now); got != c.left {
				t.Errorf("left = %s, want %s", got, c.left)
			}
		})
	}
}

func TestBuildNullify(t *testing.T) {
	f, mig, hostile := guardFixture(t)
	now := base.Add(5 * time.Hour)
	r := review(t, f, mig, now)
	if _, err := r.BuildNullify(f.newPDS); !errors.Is(err, ErrKeyNotHighEnough) {
		t.Errorf("signed by the hostile op's own key: %v", err)
	}
	if _, err := review(t, f, mig, base.Add(80*time.Hour)).BuildNullify(f.user); !errors.Is(err, ErrWindowClosed) {
		t.Errorf("after the window: %v", err)
	}
	op, err := r.BuildNullify(f.user)
	if err != nil {
		t.Fatal(err)
	}
	if op.Prev == nil || *op.Prev != mig || op.Type != "plc_operation" || !op.IsSigned() {
		t.Fatalf("op prev %v type %q signed %v", op.Prev, op.Type, op.IsSigned())
	}
	if !sameDoc(docOf(f.log[2]), op) {
		t.Errorf("the nullifying op's document differs from the kept one:\n%s", DiffDoc(docOf(f.log[2]), op))
	}

	// Applied as the directory does, the log verifies, the DID is back on
	// the new PDS, and the recovery itself is not a change.
	rec := f.nullify(mig, now)
	if st := f.state(); st.Endpoint() != "https://new.example" || st.Head.CID != rec {
		t.Fatalf("after recovery: endpoint %s head %s", st.Endpoint(), st.Head.CID)
	}
	r = review(t, f, mig, now.Add(time.Minute))
	if r.Changed() || r.Kept.CID != rec || r.Asked.CID != mig || len(r.Unchanged) != 1 || r.Unchanged[0].CID != rec {
		t.Errorf("after recovery: changed %v kept %s unchanged %+v", r.Changed(), r.Kept.CID, r.Unchanged)
	}
	if err := r.CanNullify(pubDID(t, f.user)); !errors.Is(err, ErrNothingToUndo) {
		t.Errorf("nothing after: %v", err)
	}
	if _, err := NewReview(f.did, f.log, hostile, now); !errors.Is(err, ErrOpNullified) {
		t.Errorf("keep the nullified op: %v", err)
	}

	// A second hostile op is undone from the recovery, which the default
	// (the migration's op) moves on to.
	f.appendOp(func(op *didplc.RegularOp) { op.AlsoKnownAs[0] = "at://mallory.test" }, f.newPDS, now.Add(time.Hour))
	r = review(t, f, mig, now.Add(2*time.Hour))
	if len(r.Later) != 1 || r.Kept.CID != rec || r.Later[0].Changes[0] != "alsoKnownAs: - at://alice2.old.test" {
		t.Fatalf("second hostile op: kept %s later %+v", r.Kept.CID, r.Later)
	}
	if _, err := r.BuildNullify(f.user); err != nil {
		t.Errorf("second recovery: %v", err)
	}
}

func TestReviewErrors(t *testing.T) {
	f, _, hostile := guardFixture(t)
	if _, err := NewReview(f.did, f.log, "bafyreinotthere", base); !errors.Is(err, ErrOpNotInLog) {
		t.Errorf("unknown CID: %v", err)
	}
	r := review(t, f, hostile, base.Add(2*time.Hour))
	if r.Changed() || r.Kept.CID != hostile {
		t.Errorf("keep the head: changed %v", r.Changed())
	}
	if err := r.CanNullify(pubDID(t, f.user)); !errors.Is(err, ErrNothingToUndo) {
		t.Errorf("nothing after the head: %v", err)
	}
	// The hostile op itself was signed by [1]: the user's key above it
	// could nullify it until 72 hours after it.
	if !slices.Equal(r.Kept.Overriders, []string{pubDID(t, f.user)}) || !r.Kept.WindowEnds.Equal(base.Add(73*time.Hour)) {
		t.Errorf("overriders %v until %s", r.Kept.Overriders, r.Kept.WindowEnds)
	}
}

package identity

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/migrate/ui/uitest"
	"github.com/atmigrate/atmigrate/plc"
)

// The identity step on its own, as the orchestrator builds it once the
// data is on the new PDS: B holds an inactive account, both sessions are
// open, and the gate passes unless a test says otherwise.

type stepRig struct {
	*fakeNet
	step Step
	j    *checkpoint.Journal
	prog *uitest.Messages
}

func newStepRig(t *testing.T, f *fakeNet, handle string) *stepRig {
	t.Helper()
	ctx := context.Background()
	srv := servers.New(nil, nil, nil, nil)
	newC, oldC := srv.PDS(f.b.URL, nil), srv.PDS(f.a.URL, nil)
	if _, err := (Login{DID: f.did, Handle: handle, Password: fakePassword, PasswordChoice: failure.ChoiceNewPassword}).Open(ctx, newC); err != nil {
		t.Fatal(err)
	}
	sess, err := Login{DID: f.did, Handle: handle, Password: fakePassword, PasswordChoice: failure.ChoiceOldPassword}.Open(ctx, oldC)
	if err != nil {
		t.Fatal(err)
	}
	j := checkpoint.NewJournal(t.TempDir(), &checkpoint.State{DID: f.did, OldPDS: f.a.URL, NewPDS: f.b.URL, PLCURL: f.plc.URL})
	prog := &uitest.Messages{}
	pc := srv.PLC(f.plc.URL)
	return &stepRig{fakeNet: f, j: j, prog: prog, step: Step{
		DID: f.did, New: newC,
		Target:    Target{Endpoint: f.b.URL, DropRotationKeys: []string{f.a.RotationKey()}},
		Resolver:  Resolver{Servers: srv, PLC: pc, PLCURL: f.plc.URL},
		Submitter: Submitter{PLC: pc, UI: ui.NoPrompter{}, Progress: prog, Yes: true},
		Signer:    Signer{Old: oldC, Email: sess.Email, Journal: j, UI: ui.NoPrompter{}, Progress: prog},
		Journal:   j,
		Gate:      func(context.Context) error { return nil },
	}}
}

// plcRig is alice.test, moving from A to B.
func plcRig(t *testing.T) *stepRig {
	t.Helper()
	f := newFakeNet(t)
	f.accountOnB(t)
	return newStepRig(t, f, "")
}

func (r *stepRig) run(t *testing.T) (Outcome, error) {
	t.Helper()
	return r.step.Run(context.Background())
}

// finished asserts the step switched the DID to B, with B's key.
func (r *stepRig) finished(t *testing.T, out Outcome, err error, method string) {
	t.Helper()
	if err != nil || !out.Switched || out.Skipped || !strings.Contains(out.Note, "now points at "+r.b.PublicURL()) || !strings.Contains(out.Note, method) {
		t.Fatalf("want the DID switched (%s): %+v %v", method, out, err)
	}
	signing, _ := r.b.SigningKeyFor(r.did).PublicKey()
	if !PointsAt(out.State, r.b.PublicURL()) || out.State.SigningKey() != signing.DIDKey() {
		t.Fatalf("the state after the step names %s and %s", out.State.Endpoint(), out.State.SigningKey())
	}
	p := r.j.State().PLC
	if p.OpCID == "" || p.Submitted.IsZero() || p.Method != method || !Live(out.State, p.OpCID) {
		t.Fatalf("recorded %+v", p)
	}
	if st, _ := checkpoint.Load(r.j.Dir()); st == nil || st.PLC.OpCID != p.OpCID {
		t.Fatalf("the operation is not saved: %+v", st)
	}
}

// With the user's rotation key: signed here, relayed by B, and a second
// run has nothing to do.
func TestStepRotationKey(t *testing.T) {
	r := plcRig(t)
	r.step.Signer.RotationKey = r.userKey
	out, err := r.run(t)
	r.finished(t, out, err, "rotation-key")
	if n := r.b.Calls("com.atproto.identity.submitPlcOperation"); n != 1 {
		t.Errorf("%d submissions through B", n)
	}
	ops := len(r.plc.Log(r.did))
	out, err = r.run(t)
	if err != nil || !out.Skipped || !out.Switched || !strings.Contains(out.Note, "already points at") || len(r.plc.Log(r.did)) != ops {
		t.Fatalf("second run: %+v %v", out, err)
	}
}

// With the email token: the first run has it emailed and pauses, a run
// while it is fresh does not void it, a refused token is bad input that
// forgets the request, and the newest token finishes.
func TestStepEmailToken(t *testing.T) {
	r := plcRig(t)
	requests := func() int { return r.a.Calls("com.atproto.identity.requestPlcOperationSignature") }
	if _, err := r.run(t); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("without a token: %v", err)
	}
	if requests() != 1 || r.j.State().PLC.TokenRequested.IsZero() || !r.prog.Said("emailed a confirmation token to alice@mail.test") {
		t.Fatalf("no token requested: %d requests, %+v", requests(), r.j.State().PLC)
	}
	if _, err := r.run(t); !errors.Is(err, failure.ErrPaused) || requests() != 1 {
		t.Fatalf("a second run while the token is fresh: %v, %d requests", err, requests())
	}
	r.step.Signer.Token = "WRONG-TOKEN"
	_, err := r.run(t)
	wantInput(t, err, "refused the PLC token")
	wantHint(t, err, "only the newest one counts")
	if !r.j.State().PLC.TokenRequested.IsZero() || r.j.State().PLC.OpCID != "" {
		t.Fatalf("after the refused token: %+v", r.j.State().PLC)
	}
	r.step.Signer.Token = ""
	r.step.Signer.UI = &scriptedUI{token: func() string { return " " + r.a.PLCToken(r.did) + "\n" }}
	out, err := r.run(t)
	if requests() != 2 {
		t.Errorf("%d token requests, want a new one after the refusal", requests())
	}
	r.finished(t, out, err, "email-token")
}

// Without an old PDS (a restore) the operation needs the user's key.
func TestStepNoOldPDS(t *testing.T) {
	r := plcRig(t)
	r.step.Signer.Old = nil
	_, err := r.run(t)
	wantInput(t, err, "without the old PDS")
	wantHint(t, err, "{rotation-key}")
}

// The gate comes first: while it fails nothing is requested or signed.
func TestStepGate(t *testing.T) {
	r := plcRig(t)
	gate := errors.New("the new PDS lacks a blob")
	r.step.Gate = func(context.Context) error { return gate }
	ops := len(r.plc.Log(r.did))
	out, err := r.run(t)
	if !errors.Is(err, gate) || out.Switched || out.State == nil {
		t.Fatalf("want the gate's error, got %+v %v", out, err)
	}
	if r.a.Calls("com.atproto.identity.requestPlcOperationSignature") != 0 || len(r.plc.Log(r.did)) != ops || len(r.j.State().PLC.SignedOp) != 0 {
		t.Fatal("something was requested or signed before the gate passed")
	}
}

// An operation signed by a run that stopped before sending it (here: the
// user said no) is reused, not signed again; one that no longer fits the
// DID is dropped.
func TestStepReusesTheSignedOperation(t *testing.T) {
	r := plcRig(t)
	r.step.Signer.RotationKey = r.userKey
	r.step.Submitter.Yes = false
	r.step.Submitter.UI = &scriptedUI{confirm: func(string) bool { return false }}
	_, err := r.run(t)
	wantInput(t, err, "at your request")
	signed := r.j.State().PLC.SignedOp
	if len(signed) == 0 || r.j.State().PLC.OpCID != "" {
		t.Fatalf("after no: %+v", r.j.State().PLC)
	}
	r.step.Submitter.Yes = true
	r.step.Signer.RotationKey = nil // it would have to ask for a token to sign again
	out, err := r.run(t)
	if !r.prog.Said("reusing the PLC operation signed by the interrupted run") {
		t.Error("the signed operation was not reused")
	}
	r.finished(t, out, err, "rotation-key")

	// Another run's operation that no longer chains to the DID's head.
	g := plcRig(t)
	g.j.Update(func(st *checkpoint.State) { st.PLC.SignedOp = signed })
	g.step.Signer.RotationKey = g.userKey
	out, err = g.run(t)
	if g.prog.Said("reusing") {
		t.Error("an operation of another DID was reused")
	}
	g.finished(t, out, err, "rotation-key")
}

// The recorded operation, accepted by the directory but missing from a
// lagging read, is waited for; the step then finds the DID switched.
func TestAwaitRecorded(t *testing.T) {
	r := plcRig(t)
	ctx := context.Background()
	before, err := r.step.Resolver.State(ctx, r.did)
	if err != nil {
		t.Fatal(err)
	}
	r.step.Signer.RotationKey = r.userKey
	out, err := r.run(t)
	r.finished(t, out, err, "rotation-key")
	rec := r.j.State().PLC
	st, err := r.step.Submitter.AwaitRecorded(ctx, r.did, rec, before)
	if err != nil || !Live(st, rec.OpCID) || !r.prog.Said("does not show operation "+rec.OpCID+" yet") {
		t.Fatalf("waited: %v, %v", st, err)
	}
	// Nothing recorded as sent, or a record of another operation: nothing
	// to wait for.
	for _, other := range []checkpoint.PLCInfo{{}, {OpCID: "bafyother", Submitted: rec.Submitted, SignedOp: rec.SignedOp}} {
		if got, err := r.step.Submitter.AwaitRecorded(ctx, r.did, other, before); err != nil || got != before {
			t.Errorf("record %+v: %v %v", other, got, err)
		}
	}
	bad := rec
	bad.SignedOp = json.RawMessage(`{"not":"an op"}`)
	if _, err := r.step.Submitter.AwaitRecorded(ctx, r.did, bad, before); err == nil {
		t.Error("an unreadable recorded operation was taken")
	}
	// A directory that never shows it: resumable, in the identity stage.
	g := plcRig(t)
	pc := g.step.Submitter.PLC
	pc.Retry, pc.LagWait = plc.RetryPolicy{MaxAttempts: 1}, 300*time.Millisecond
	g.plc.Down()
	_, err = g.step.Submitter.AwaitRecorded(ctx, g.did, rec, before)
	var se *failure.StageError
	if !errors.As(err, &se) || se.Stage != stage.Identity {
		t.Errorf("directory down: %v", err)
	}
}

// A did:web: the step writes the document to publish and pauses until
// the published one names the new PDS and its key.
func TestStepDIDWeb(t *testing.T) {
	host := fakenet.NewDIDWebHost(t)
	f := &fakeNet{plc: fakenet.NewPLC(t), did: host.DID}
	f.a = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.b = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	sig := fakenet.Key(t)
	f.a.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "web.test", Password: fakePassword, SigningKey: sig})
	f.b.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "web.test", Password: fakePassword, Deactivated: true})
	doc, _ := json.Marshal(map[string]any{
		"id": f.did, "alsoKnownAs": []string{"at://web.test"},
		"verificationMethod": []any{map[string]any{"id": f.did + "#atproto", "type": "Multikey", "controller": f.did,
			"publicKeyMultibase": strings.TrimPrefix(fakenet.DIDKey(t, sig), "did:key:")}},
		"service": []any{map[string]any{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": f.a.PublicURL()}},
	})
	host.Publish(doc)
	r := newStepRig(t, f, "web.test")

	_, err := r.run(t)
	var pe *failure.PauseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Hint, "publish") {
		t.Fatalf("want a pause to publish, got %v", err)
	}
	next, err := os.ReadFile(filepath.Join(r.j.Dir(), DIDWebFile))
	if err != nil || !strings.Contains(string(next), f.b.PublicURL()) || !r.prog.Said("publish this document") {
		t.Fatalf("the document to publish: %s %v", next, err)
	}
	host.Publish(next)
	out, err := r.run(t)
	if err != nil || !out.Switched || !strings.Contains(out.Note, "published document points at") {
		t.Fatalf("after publication: %+v %v", out, err)
	}
	if n := len(f.plc.Log(f.did)); n != 0 {
		t.Errorf("%d PLC operations for a did:web", n)
	}

	// Unreadable, it is bad input naming where it must be published.
	host.Publish([]byte("not json"))
	_, err = r.step.Resolver.State(context.Background(), f.did)
	wantInput(t, r.step.Resolver.ReadError(f.did, err), "did:web document")
}

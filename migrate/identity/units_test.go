package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// The dry run's view of the operation: the real intent with placeholders
// for the keys the new PDS only creates with the account.
func TestPreview(t *testing.T) {
	r := plcRig(t)
	st, err := r.step.Resolver.State(context.Background(), r.did)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.step.Target.Preview(st, time.Now())
	if err != nil || p.Refused != nil {
		t.Fatalf("preview: %+v %v", p, err)
	}
	for _, want := range []string{PlaceholderSigningKey, PlaceholderRotationKey, r.b.URL, "(yours)"} {
		if !strings.Contains(p.Diff, want) {
			t.Errorf("the diff lacks %q:\n%s", want, p.Diff)
		}
	}
	if strings.Contains(p.Diff, r.a.RotationKey()) && !strings.Contains(p.Diff, "old PDS") {
		t.Errorf("the old PDS's key is not labelled:\n%s", p.Diff)
	}
}

// A repo is checked against the DID's key history, or in a restore the
// backup's own key; a commit by an earlier key is explained.
func TestRepoKeys(t *testing.T) {
	r := plcRig(t)
	st, _ := r.step.Resolver.State(context.Background(), r.did)
	if got := RepoKeys(nil, st); len(got) != 1 || got[0].DIDKey != st.SigningKey() {
		t.Errorf("history: %+v", got)
	}
	backup, _ := fakenet.Key(t).PublicKey()
	keys := RepoKeys(backup, st)
	if len(keys) != 1 || keys[0].DIDKey != backup.DIDKey() {
		t.Errorf("restore: %+v", keys)
	}
	vo, got, err := RepoVerifyOptions(r.did, keys, true)
	if err != nil || vo.DID != r.did || !vo.Partial || len(vo.Keys) != 1 || len(got) != 1 {
		t.Errorf("verify options: %+v %v", vo, err)
	}
	if _, _, err := RepoVerifyOptions(r.did, nil, false); err == nil {
		t.Error("no key at all verified nothing")
	}

	until := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hist := plc.SigningKeys{{DIDKey: "did:key:zNEW"}, {DIDKey: "did:key:zOLD", Until: until}}
	if note := EarlierKeyNote(hist, &repo.Summary{SignedBy: "did:key:zNEW"}, "pds.example"); note != "" {
		t.Errorf("current key: %q", note)
	}
	note := EarlierKeyNote(hist, &repo.Summary{SignedBy: "did:key:zOLD"}, "pds.example")
	if !strings.Contains(note, "did:key:zOLD") || !strings.Contains(note, "2026-03-01 12:00 UTC") || !strings.Contains(note, "pds.example has not written") {
		t.Errorf("earlier key: %q", note)
	}
}

// What watch reads from a state: the migration's operation, both
// accounts, and whether the old one must stay deactivated.
func TestWatchOptionsFromState(t *testing.T) {
	st := &checkpoint.State{DID: "did:plc:abc", PLCURL: "https://plc.example", OldPDS: "https://old.example", NewPDS: "https://new.example",
		Stages: map[stage.Stage]*checkpoint.StageStatus{}}
	_, err := WatchOptionsFromState(st)
	wantInput(t, err, "has not submitted its PLC operation")
	st.PLC.OpCID = "bafyop"
	st.Stages[stage.Identity] = &checkpoint.StageStatus{Done: true}
	wo, err := WatchOptionsFromState(st)
	if err != nil || wo.Keep != "bafyop" || wo.DID != st.DID || wo.NewPDS != st.NewPDS || wo.OldPDS != st.OldPDS || wo.PLCURL != st.PLCURL || wo.OldMustBeInactive {
		t.Fatalf("before deactivation: %+v %v", wo, err)
	}
	for _, note := range []string{"deactivated on https://old.example", "already deactivated"} {
		st.Stages[stage.DeactivateOld] = &checkpoint.StageStatus{Done: true, Note: note}
		if wo, err := WatchOptionsFromState(st); err != nil || !wo.OldMustBeInactive {
			t.Errorf("%q: %+v %v", note, wo, err)
		}
	}
	st.Stages[stage.DeactivateOld] = &checkpoint.StageStatus{Done: true, Note: "left active ({no-deactivate-old})"}
	if wo, _ := WatchOptionsFromState(st); wo.OldMustBeInactive {
		t.Error("an old account left active must stay inactive")
	}
	st.DID = "did:web:example.com"
	_, err = WatchOptionsFromState(st)
	wantInput(t, err, "is not a did:plc")
}

// Why a DID document could not be read, in words the user can act on.
func TestReadError(t *testing.T) {
	id := Resolver{PLCURL: "https://plc.example"}
	wantInput(t, id.ReadError("did:plc:abc", plc.ErrDIDNotFound), "does not know did:plc:abc")
	wantInput(t, id.ReadError("did:web:example.com", errors.New("HTTP 404")), "did:web document")
	err := id.ReadError("did:plc:abc", errors.New("connection refused"))
	var ie *failure.InputError
	if errors.As(err, &ie) || !strings.Contains(err.Error(), "read the DID's PLC audit log") {
		t.Errorf("a directory that did not answer: %T %v", err, err)
	}
}

// A handle only the new PDS still answers for counts when the DID
// document claims it back; an answer the directory does not know does not.
func TestResolveOnTheNewPDS(t *testing.T) {
	f := newFakeNet(t)
	f.accountOnB(t)
	f.b.SetActive(f.did, true)
	c := fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{}) // knows no handle
	f.b.AddAccount(fakenet.AccountSpec{DID: "did:plc:ghostghostghostghostghos", Handle: "ghost.test", Password: fakePassword})
	srv := servers.New(nil, nil, nil, nil)
	id := Resolver{Servers: srv, PLC: srv.PLC(f.plc.URL), PLCURL: f.plc.URL, OldPDS: c.URL, NewPDS: f.b.URL}
	ctx := context.Background()
	if did, err := id.Resolve(ctx, "alice.test"); err != nil || did != f.did {
		t.Errorf("through the new PDS: %s %v", did, err)
	}
	_, err := id.Resolve(ctx, "ghost.test")
	wantInput(t, err, "does not know the handle ghost.test")
}

// Every way a login is refused is bad input saying what to pass; a PDS
// that does not answer is not.
func TestLogin(t *testing.T) {
	f := newFakeNet(t)
	f.a.Modify(f.did, func(a *fakenet.Account) {
		a.AppPasswords = []fakenet.AppPassword{{Name: "app", Password: "abcd-efgh-ijkl-mnop"}}
	})
	ctx := context.Background()
	c := servers.New(nil, &pds.RetryPolicy{MaxAttempts: 1}, nil, nil).PDS(f.a.URL, nil)
	l := Login{DID: f.did, Password: fakePassword, PasswordChoice: failure.ChoiceOldPassword}
	if _, err := l.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	wrong := l
	wrong.Password = "nope"
	_, err := wrong.Open(ctx, c)
	wantInput(t, err, "refused the password")
	wantHint(t, err, "{old-password}")
	wrong.Refused = "the account on the new PDS has another password"
	_, err = wrong.Open(ctx, c)
	wantInput(t, err, "another password")

	app := l
	app.Password = "abcd-efgh-ijkl-mnop"
	_, err = app.Open(ctx, c)
	wantInput(t, err, "accepted an app password")
	app.ReadOnly = true
	if _, err := app.Open(ctx, c); err != nil {
		t.Errorf("an app password to read: %v", err)
	}

	f.a.Modify(f.did, func(a *fakenet.Account) { a.AuthFactorToken = "123456" })
	_, err = l.Open(ctx, c)
	wantInput(t, err, "asks for a sign-in code")
	wantHint(t, err, "{auth-factor-token} CODE")
	f.a.Modify(f.did, func(a *fakenet.Account) { a.AuthFactorToken = "" })

	const nsid = "com.atproto.server.createSession"
	f.a.Fail(nsid, 1, 400, "AccountTakedown", "taken down")
	_, err = l.Open(ctx, c)
	wantHint(t, err, "{from-backup}")
	f.a.Fail(nsid, 1, 400, "SomethingElse", "no")
	_, err = l.Open(ctx, c)
	wantInput(t, err, "log in to")
	f.a.Down()
	_, err = l.Open(ctx, c)
	var ie *failure.InputError
	if err == nil || errors.As(err, &ie) {
		t.Errorf("a PDS that is down: %T %v", err, err)
	}
}

// Submit refuses an operation that fails its checks before anything is
// sent, and judges a relay's failure from the audit log.
func TestSubmitRefusalsAndRelayFailures(t *testing.T) {
	r := plcRig(t)
	ctx := context.Background()
	st, _ := r.step.Resolver.State(ctx, r.did)
	want, err := plc.BuildAddRotationKey(st, fakenet.DIDKey(t, fakenet.Key(t)))
	if err != nil {
		t.Fatal(err)
	}
	op := *want
	if err := plc.Sign(&op, fakenet.Key(t)); err != nil { // not a rotation key of the DID
		t.Fatal(err)
	}
	sub := r.step.Submitter
	posts := r.plc.Calls("POST /{did}")
	_, err = sub.Submit(ctx, Submission{DID: r.did, State: st, Op: &op, Want: want, Check: OpChecks(1)})
	if err == nil || !strings.Contains(err.Error(), "failed its checks") || !strings.Contains(failure.Hint(err), "nothing was changed") {
		t.Fatalf("a bad signature: %v", err)
	}
	if err := plc.Sign(&op, r.userKey); err != nil {
		t.Fatal(err)
	}
	const relay = "com.atproto.identity.submitPlcOperation"
	r.b.Fail(relay, 1, 400, "InvalidRequest", "refused")
	_, err = sub.Submit(ctx, Submission{DID: r.did, State: st, Op: &op, Want: want, Check: OpChecks(1), Via: r.step.New, Stage: stage.Identity})
	var se *failure.StageError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "through") || !strings.Contains(se.Hint, "audit log is checked") {
		t.Fatalf("a refused relay: %v", err)
	}
	r.b.Fail(relay, 1, 400, "InvalidRequest", "refused")
	r.plc.Fail("GET /{did}/log/audit", 100, 500, "down")
	sub.PLC.Retry = plc.RetryPolicy{MaxAttempts: 1}
	_, err = sub.Submit(ctx, Submission{DID: r.did, State: st, Op: &op, Want: want, Via: r.step.New})
	if err == nil || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("a refused relay and an unreadable log: %v", err)
	}
	if n := r.plc.Calls("POST /{did}") - posts; n != 0 {
		t.Errorf("%d operations reached the directory", n)
	}
}

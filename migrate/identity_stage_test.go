package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/did-method-plc/go-didplc/didplc"
)

// The identity stage and what follows it: the PLC operation happens
// exactly once, an email token is spent only when needed, and the old
// account is deactivated only once the DID is seen to point at the new
// PDS, whose account is active.

// A wrong token is bad input and forgets the token request, so that the
// next run without a token has a new one emailed; the newest token then
// finishes the move.
func TestWrongPLCToken(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	first := f.a.PLCToken(f.did)

	o.PLCToken = "WRONG-TOKEN"
	_, err := Run(context.Background(), o)
	wantInput(t, err, "refused the PLC token")
	wantHint(t, err, "only the newest one counts")
	untouched(t, f.fakeMove)
	if st, _ := checkpoint.Load(o.StateDir); st == nil || !st.PLC.TokenRequested.IsZero() || st.PLC.OpCID != "" {
		t.Fatalf("state after the refused token: %+v", st.PLC)
	}

	o.PLCToken = ""
	requests := f.a.Calls("com.atproto.identity.requestPlcOperationSignature")
	paused(t, f.fakeMove, o)
	if n := f.a.Calls("com.atproto.identity.requestPlcOperationSignature") - requests; n != 1 {
		t.Fatalf("%d token requests after the refusal, want 1", n)
	}
	if f.a.PLCToken(f.did) == first {
		t.Fatal("the fake did not send a new token")
	}
	withToken(t, f.fakeMove, o)
}

// A run paused for the token asks for no second one within the token's
// life: a resumed run without the token pauses again without a request.
func TestPausedRunDoesNotReRequest(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	token := f.a.PLCToken(f.did)
	paused(t, f.fakeMove, o)
	if n := f.a.Calls("com.atproto.identity.requestPlcOperationSignature"); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if f.a.PLCToken(f.did) != token {
		t.Error("the first token was voided by a second request")
	}
	st, _ := checkpoint.Load(o.StateDir)
	if st.LastError == "" || !strings.Contains(st.LastError, "token") {
		t.Errorf("state's last error %q does not say the run waits for the token", st.LastError)
	}
}

// On a terminal the token is typed at the prompt and the operation is
// confirmed after seeing the diff: one run, no pause. Saying no stops
// before anything is submitted.
func TestTokenAndConfirmationAtThePrompt(t *testing.T) {
	t.Run("yes", func(t *testing.T) {
		f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
		ui := &scriptedUI{token: func() string { return f.a.PLCToken(f.did) }}
		o := f.opts(t)
		o.Yes, o.UI = false, ui
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		finished(t, f.fakeMove)
		if len(ui.details) != 1 || !strings.Contains(ui.details[0], f.b.PublicURL()) || !strings.Contains(ui.details[0], "new PDS") {
			t.Errorf("confirmation details %q do not show the new endpoint and whose keys are whose", ui.details)
		}
		if res.State.PLC.Method != "email-token" {
			t.Errorf("method %q", res.State.PLC.Method)
		}
	})
	t.Run("no", func(t *testing.T) {
		f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
		o := f.withKey(t)
		o.Yes, o.UI = false, &scriptedUI{confirm: func(string) bool { return false }}
		before := len(f.plc.Log(f.did))
		_, err := Run(context.Background(), o)
		wantInput(t, err, "stopped before the PLC operation")
		untouched(t, f.fakeMove)
		if len(f.plc.Log(f.did)) != before {
			t.Error("an operation was submitted after the user said no")
		}
	})
	t.Run("no terminal", func(t *testing.T) {
		f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
		o := f.withKey(t)
		o.Yes = false
		_, err := Run(context.Background(), o)
		wantInput(t, err, "needs confirmation")
		wantHint(t, err, "{yes}")
		untouched(t, f.fakeMove)
	})
}

// A run that signed the operation with the email token but could not
// submit it keeps the signed operation: the next run submits that one,
// without a second token (which would need another email).
func TestSignedOpReusedAfterAFailedSubmit(t *testing.T) {
	f := newFullMove(t, 8, 2, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	o.PLCToken = f.a.PLCToken(f.did)
	f.b.Fail("com.atproto.identity.submitPlcOperation", 10, 500, "InternalServerError", "Internal Server Error")
	_, err := Run(context.Background(), o)
	wantStage(t, err, stage.Identity, "submit the PLC operation")
	wantHint(t, err, "audit log is checked")
	untouched(t, f.fakeMove)
	st, _ := checkpoint.Load(o.StateDir)
	if len(st.PLC.SignedOp) == 0 || st.PLC.OpCID == "" {
		t.Fatalf("the signed operation was not kept: %+v", st.PLC)
	}

	f.b.ClearFailures("com.atproto.identity.submitPlcOperation")
	signs := f.a.Calls("com.atproto.identity.signPlcOperation")
	requests := f.a.Calls("com.atproto.identity.requestPlcOperationSignature")
	o.PLCToken = "" // spent
	prog := &logProgress{}
	o.Progress = prog
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("the run after the failed submit: %v", err)
	}
	finished(t, f.fakeMove)
	if n := f.a.Calls("com.atproto.identity.signPlcOperation") - signs + f.a.Calls("com.atproto.identity.requestPlcOperationSignature") - requests; n != 0 {
		t.Errorf("%d token requests or signatures: the signed operation was not reused", n)
	}
	if !prog.said("reusing the PLC operation", false) {
		t.Errorf("the run did not say it reused the operation: %q", prog.Infos())
	}
	if res.State.PLC.OpCID != st.PLC.OpCID {
		t.Errorf("submitted %s, the kept operation was %s", res.State.PLC.OpCID, st.PLC.OpCID)
	}
}

// A submission whose answer is lost went through: the audit log says so,
// and the run goes on without submitting again.
func TestSubmitAnswerLost(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	before := len(f.plc.Log(f.did))
	f.b.LoseResponse("com.atproto.identity.submitPlcOperation", 1)
	if _, err := Run(context.Background(), f.withKey(t)); err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
	if n := len(f.plc.Log(f.did)) - before; n != 1 {
		t.Errorf("%d operations in the log, want 1", n)
	}
}

// An activation the new PDS refuses after the switch is resumable, with
// the old account left active; the next run activates.
func TestActivateFails(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	failsThenResumes(t, f.fakeMove, f.withKey(t), f.b, "com.atproto.server.activateAccount", stage.Activate,
		"activate the account", "the DID already points at the new PDS", func(*Result) {
			if endpointNow(t, f.fakeMove) != f.b.PublicURL() || !active(t, f.a, f.did) {
				t.Fatal("want the DID switched and the old account still active")
			}
		})
}

// The guard in front of deactivate-old reads the DID afresh: pointing
// back at the old PDS, or at a third one, leaves the old account active.
func TestDeactivateGuard(t *testing.T) {
	cases := []struct {
		name     string
		endpoint func(f *fullMove) string
		want     string
		hint     string
	}{
		{"DID points back at the old PDS", func(f *fullMove) string { return f.a.PublicURL() },
			"still points at the old PDS", "run the same command again"},
		{"DID points at a third PDS", func(f *fullMove) string {
			return fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{}).PublicURL()
		}, "which is not the new PDS", "someone changed the DID"},
		{"DID points at a server that does not answer", func(*fullMove) string { return "http://127.0.0.1:1" },
			"did not answer", "run the same command again"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
			o := f.withKey(t)
			o.Progress = atStart(stage.DeactivateOld, func() {
				ep := c.endpoint(f)
				f.plc.Update(f.did, f.userKey, func(op *didplc.RegularOp) {
					op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: ep}
				})
			})
			_, err := Run(context.Background(), o)
			wantStage(t, err, stage.DeactivateOld, c.want)
			wantHint(t, err, c.hint)
			if !active(t, f.a, f.did) {
				t.Fatal("the old account was deactivated")
			}
			if n := f.a.Calls("com.atproto.server.deactivateAccount"); n != 0 {
				t.Fatalf("%d deactivateAccount calls", n)
			}
		})
	}
}

// The old PDS failing the deactivation: resumable, the migration itself
// complete; the next run only deactivates.
func TestDeactivateFails(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	imports := 0
	failsThenResumes(t, f.fakeMove, f.withKey(t), f.a, "com.atproto.server.deactivateAccount", stage.DeactivateOld,
		"deactivate the account", "the migration itself is complete", func(*Result) {
			if !active(t, f.b, f.did) || !active(t, f.a, f.did) {
				t.Fatal("want both accounts active")
			}
			imports = f.b.Calls("com.atproto.repo.importRepo")
		})
	if n := f.b.Calls("com.atproto.repo.importRepo") - imports; n != 0 {
		t.Errorf("%d imports after the switch", n)
	}
}

// The final check compares the two sides: preferences changed on the new
// PDS between the copy and the check fail it, naming the check.
func TestFinalCheckDifference(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	f.a.Modify(f.did, func(a *fakenet.Account) { a.Preferences = []byte(`[{"$type":"app.bsky.actor.defs#savedFeedsPref"}]`) })
	o := f.withKey(t)
	o.Progress = atStart(stage.FinalCheck, func() {
		f.b.Modify(f.did, func(a *fakenet.Account) { a.Preferences = []byte(`[]`) })
	})
	res, err := Run(context.Background(), o)
	se := wantStage(t, err, stage.FinalCheck, "differs", "preferences")
	wantHint(t, se, "atmigrate verify")
	if res.State.Completed || res.State.LastErrorStage != stage.FinalCheck {
		t.Errorf("state: completed %v, last error in %q", res.State.Completed, res.State.LastErrorStage)
	}
}

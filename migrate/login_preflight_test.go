package migrate

import (
	"context"
	"errors"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The login, preflight and create-account stages: every refusal is bad
// input (exit 2) that names what to change, and comes before anything is
// written to the new PDS or the DID.

func TestLoginWrongPassword(t *testing.T) {
	f := newFakeMove(t)
	o := f.opts(t)
	o.OldPassword = "not the password"
	_, err := Run(context.Background(), o)
	wantInput(t, err, "refused the password")
	wantHint(t, err, "{old-password}")
	noAccountOn(t, f.b, f.did)
	untouched(t, f)
}

// An old PDS with email 2FA: the run asks for the code, refuses a wrong
// one, and goes on with the right one.
func TestLoginAuthFactorToken(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	f.a.Modify(f.did, func(a *fakenet.Account) { a.AuthFactorToken = "246810" })
	o := f.opts(t)
	_, err := Run(context.Background(), o)
	wantInput(t, err, "asks for a sign-in code")
	wantHint(t, err, "{auth-factor-token}")

	o.AuthFactorToken = "135791"
	_, err = Run(context.Background(), o)
	wantInput(t, err, "InvalidToken")
	noAccountOn(t, f.b, f.did)

	o.AuthFactorToken = "246810"
	paused(t, f.fakeMove, o)
	withToken(t, f.fakeMove, o)
}

// What createAccount would refuse is caught in preflight (or, when only
// createAccount can tell, there), before anything is written.
func TestPreflightRefusals(t *testing.T) {
	cases := []struct {
		name  string
		optsB fakenet.PDSOptions
		setup func(t *testing.T, f *fullMove, o *Options)
		want  []string
		hint  string
	}{
		{"invite code required", fakenet.PDSOptions{InviteCodeRequired: true, InviteCodes: []string{"fakenet-good"}},
			func(*testing.T, *fullMove, *Options) {}, []string{"requires an invite code"}, "{invite-code}"},
		{"invite code refused", fakenet.PDSOptions{InviteCodeRequired: true, InviteCodes: []string{"fakenet-good"}},
			func(_ *testing.T, _ *fullMove, o *Options) { o.InviteCode = "fakenet-used" }, []string{"refused the invite code"}, "{invite-code}"},
		{"handle outside the new PDS's domains", fakenet.PDSOptions{},
			func(_ *testing.T, _ *fullMove, o *Options) { o.NewHandle = "alice.example" }, []string{"alice.example is not allowed"}, "{new-handle}"},
		{"handle taken on the new PDS", fakenet.PDSOptions{},
			func(_ *testing.T, f *fullMove, _ *Options) {
				f.b.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: "theirs", Email: "other@mail.test"})
			}, []string{"alice.test is taken"}, "{new-handle}"},
		{"email taken on the new PDS", fakenet.PDSOptions{},
			func(_ *testing.T, f *fullMove, _ *Options) {
				f.b.AddAccount(fakenet.AccountSpec{Handle: "bob.test", Password: "theirs", Email: "alice@mail.test"})
			}, []string{"refused to create the account", "Email already taken"}, "{new-email}"},
		{"no email on the old account", fakenet.PDSOptions{},
			func(_ *testing.T, f *fullMove, _ *Options) {
				f.a.Modify(f.did, func(a *fakenet.Account) { a.Email = "" })
			},
			[]string{"needs an email address"}, "{new-email}"},
		{"rotation key not listed", fakenet.PDSOptions{},
			func(t *testing.T, _ *fullMove, o *Options) { o.RotationKey = fakenet.Key(t) }, []string{"is not one of", "current rotation keys"}, "rotationKeys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFullMove(t, 10, 2, c.optsB)
			o := f.withKey(t)
			c.setup(t, f, &o)
			_, err := Run(context.Background(), o)
			wantInput(t, err, c.want...)
			wantHint(t, err, c.hint)
			noAccountOn(t, f.b, f.did)
			untouched(t, f.fakeMove)
			if n := f.a.Calls("com.atproto.identity.requestPlcOperationSignature"); n != 0 {
				t.Errorf("%d email tokens requested before the refusal", n)
			}
		})
	}
}

// The right invite code moves the account, and is used up.
func TestInviteCodeAccepted(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{InviteCodeRequired: true, InviteCodes: []string{"fakenet-good"}})
	o := f.withKey(t)
	o.InviteCode = "fakenet-good"
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
}

// An account already on the new PDS under this DID (an earlier tool, a
// run whose state was lost) is taken over with the new password, never
// created twice; the wrong password is bad input that says which one.
func TestCreateAccountTakeover(t *testing.T) {
	f := newFullMove(t, 12, 3, fakenet.PDSOptions{})
	f.b.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "alice.test", Password: "set by the other tool", Email: "alice@mail.test", Deactivated: true})
	o := f.withKey(t)
	_, err := Run(context.Background(), o)
	wantInput(t, err, "exists on", "does not open it")
	wantHint(t, err, "{new-password}")
	untouched(t, f.fakeMove)

	o.NewPassword = "set by the other tool"
	prog := &logProgress{}
	o.Progress = prog
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("with the password the account has: %v", err)
	}
	finished(t, f.fakeMove)
	if n := f.b.Calls("com.atproto.server.createAccount"); n != 0 {
		t.Errorf("%d createAccount calls for an account that was there", n)
	}
	if note := prog.note(stage.CreateAccount); note != "an account for this DID was already there: taken over" {
		t.Errorf("create-account note %q", note)
	}
	if b, _ := f.b.Account(f.did); b.Password != "set by the other tool" || b.Imports != 1 {
		t.Errorf("new account: password %q, %d imports", b.Password, b.Imports)
	}
}

// createAccount's answer is lost (the account was created, the client
// never heard): the run stops resumable, with the state dir bound to the
// new PDS; the next run finds the account there and takes it over
// instead of creating it again.
func TestCreateAccountLostAnswer(t *testing.T) {
	f := newFullMove(t, 8, 1, fakenet.PDSOptions{})
	f.b.LoseResponse("com.atproto.server.createAccount", 1)
	o := f.withKey(t)
	_, err := Run(context.Background(), o)
	wantStage(t, err, stage.CreateAccount, "createAccount")
	wantHint(t, err, "run the same command again")
	st, lerr := checkpoint.Load(o.StateDir)
	if lerr != nil || !st.CreatingAccount || st.LastErrorStage != stage.CreateAccount {
		t.Fatalf("state after the lost answer: %+v %v", st, lerr)
	}
	// The state dir now belongs to this new PDS: another one is refused.
	other := o
	other.NewPDS = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{}).URL
	_, err = Run(context.Background(), other)
	wantInput(t, err, "already has the account")

	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
	if n := f.b.Calls("com.atproto.server.createAccount"); n != 1 {
		t.Errorf("createAccount called %d times, want once", n)
	}
}

// A new PDS that does not answer once the account was created there is an
// outage (exit 1, resumable), not a mistyped --new-pds: the same command
// finishes when it is back.
func TestNewPDSDownAfterTheAccountWasCreated(t *testing.T) {
	f := newFullMove(t, 8, 1, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	f.b.Down()
	_, err := Run(context.Background(), o)
	var ie *failure.InputError
	if err == nil || errors.As(err, &ie) || errors.Is(err, failure.ErrPaused) {
		t.Fatalf("new PDS down after createAccount: want a resumable error (exit 1), got %v", err)
	}
	f.b.Up()
	withToken(t, f.fakeMove, o)
}

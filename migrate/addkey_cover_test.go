package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// AddRotationKey, ResolveAccount, WatchOptionsFromState and the default
// state dir, against the fake network.

func (f *fakeMove) addKeyOpts(key string) AddKeyOptions {
	return AddKeyOptions{Account: f.did, PLCURL: f.plc.URL, Key: key, Password: fakePassword, Yes: true}
}

// rotationKeys is the DID's current rotation keys.
func (f *fakeMove) rotationKeys(t *testing.T) []string {
	t.Helper()
	data, err := f.plc.Data(f.did)
	if err != nil {
		t.Fatal(err)
	}
	return data.RotationKeys
}

// Signed with the user's own rotation key: the key goes on top, the
// others stay, and adding it again changes nothing.
func TestCoverAddRotationKeyLocally(t *testing.T) {
	f := newFakeMove(t)
	added := didKey(t, k256(t))
	before := f.rotationKeys(t)
	o := f.addKeyOpts(added)
	o.RotationKey, o.Password = f.userKey, ""
	res, err := AddRotationKey(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	keys := f.rotationKeys(t)
	if res.Already || res.OpCID == "" || keys[0] != added || len(keys) != len(before)+1 || strings.Join(keys[1:], " ") != strings.Join(before, " ") {
		t.Fatalf("result %+v, rotation keys %v (before %v)", res, keys, before)
	}
	if n := f.a.Calls("com.atproto.server.createSession"); n != 0 {
		t.Errorf("%d logins to the PDS for a locally signed operation", n)
	}
	ops := len(f.plc.Log(f.did))
	res, err = AddRotationKey(context.Background(), o)
	if err != nil || !res.Already || len(f.plc.Log(f.did)) != ops {
		t.Fatalf("adding it again: %+v %v, %d new operations", res, err, len(f.plc.Log(f.did))-ops)
	}
}

// Through the PDS: the first call has the token emailed and pauses, the
// one with the token adds the key through the PDS's submitPlcOperation.
func TestCoverAddRotationKeyThroughThePDS(t *testing.T) {
	f := newFakeMove(t)
	added := didKey(t, k256(t))
	o := f.addKeyOpts(added)
	if _, err := AddRotationKey(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("without a token: want paused (exit 3), got %v", err)
	}
	if f.a.PLCToken(f.did) == "" || f.rotationKeys(t)[0] == added {
		t.Fatal("no token emailed, or the key added without one")
	}
	o.PLCToken = f.a.PLCToken(f.did)
	res, err := AddRotationKey(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.RotationKeys[0] != added || f.rotationKeys(t)[0] != added {
		t.Fatalf("result keys %v, DID keys %v", res.RotationKeys, f.rotationKeys(t))
	}
	if n := f.a.Calls("com.atproto.identity.submitPlcOperation"); n != 1 {
		t.Errorf("%d submissions through the PDS, want 1", n)
	}
}

func TestCoverAddRotationKeyRefusals(t *testing.T) {
	f := newFakeMove(t)
	added := didKey(t, k256(t))
	cases := []struct {
		name   string
		change func(o *AddKeyOptions)
		want   string
		hint   string
	}{
		{"not a did:key", func(o *AddKeyOptions) { o.Key = "zQ3shnot" }, "is not a did:key", "keygen"},
		{"signer not a rotation key", func(o *AddKeyOptions) { o.RotationKey = k256(t) }, "is not a rotation key of", "one of the DID's rotation keys"},
		{"wrong password", func(o *AddKeyOptions) { o.Password = "nope" }, "refused the password", "--old-password"},
		{"no terminal to confirm", func(o *AddKeyOptions) { o.RotationKey, o.Yes = f.userKey, false }, "needs confirmation", "--yes"},
		{"the user says no", func(o *AddKeyOptions) {
			o.RotationKey, o.Yes, o.UI = f.userKey, false, &scriptedUI{confirm: func(string) bool { return false }}
		}, "at your request", "nothing was changed"},
	}
	ops := len(f.plc.Log(f.did))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := f.addKeyOpts(added)
			c.change(&o)
			_, err := AddRotationKey(context.Background(), o)
			wantInput(t, err, c.want)
			wantHint(t, err, c.hint)
		})
	}
	if n := len(f.plc.Log(f.did)); n != ops {
		t.Errorf("%d operations after refusals", n-ops)
	}
}

func TestCoverResolveAccount(t *testing.T) {
	f := newFakeMove(t)
	ctx := context.Background()
	if did, err := ResolveAccount(ctx, "Alice.Test", f.a.URL+"/", f.plc.URL); err != nil || did != f.did {
		t.Errorf("handle through the PDS: %s %v", did, err)
	}
	if did, err := ResolveAccount(ctx, f.did, "", f.plc.URL); err != nil || did != f.did {
		t.Errorf("a DID: %s %v", did, err)
	}
	_, err := ResolveAccount(ctx, "nobody.test", f.a.URL, f.plc.URL)
	wantInput(t, err, "does not know the handle nobody.test")
	_, err = ResolveAccount(ctx, "not a handle", "", f.plc.URL)
	wantInput(t, err, "neither a handle nor a DID")
	_, err = ResolveAccount(ctx, "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", "", f.plc.URL)
	wantInput(t, err, "did:key account")
}

// What `atmigrate watch` reads from a finished migration's state: the
// operation to keep and both accounts, the old one to stay deactivated.
func TestCoverWatchOptionsFromState(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	st, _ := checkpoint.Load(o.StateDir)
	_, err := WatchOptionsFromState(st)
	wantInput(t, err, "has not submitted its PLC operation")

	res, _ := withToken(t, f.fakeMove, o)
	wo, err := WatchOptionsFromState(res.State)
	if err != nil {
		t.Fatal(err)
	}
	if wo.DID != f.did || wo.Keep != res.State.PLC.OpCID || wo.NewPDS != f.b.URL || wo.OldPDS != f.a.URL || !wo.OldMustBeInactive || wo.PLCURL != f.plc.URL {
		t.Fatalf("watch options %+v", wo)
	}
	rep, err := Watch(context.Background(), wo)
	if err != nil || rep.Changed() {
		t.Fatalf("watch right after the move: %+v %v", rep, err)
	}
	f.a.SetActive(f.did, true)
	if rep, err := Watch(context.Background(), wo); err != nil || !rep.Changed() {
		t.Errorf("the old account active again is not a change: %+v %v", rep, err)
	}

	// With --no-deactivate-old the old account may stay active.
	g := newFullMove(t, 4, 1, fakenet.PDSOptions{})
	o2 := g.withKey(t)
	o2.NoDeactivateOld = true
	res, err = Run(context.Background(), o2)
	if err != nil {
		t.Fatal(err)
	}
	if wo, err := WatchOptionsFromState(res.State); err != nil || wo.OldMustBeInactive {
		t.Errorf("after --no-deactivate-old: %+v %v", wo, err)
	}
}

// Without --state-dir the state goes under $XDG_STATE_HOME/atmigrate/<did>
// (or ~/.local/state/atmigrate/<did>), where the next run finds it.
func TestCoverDefaultStateDir(t *testing.T) {
	for _, xdg := range []bool{true, false} {
		root := t.TempDir()
		want := filepath.Join(root, "atmigrate")
		if xdg {
			t.Setenv("XDG_STATE_HOME", root)
		} else {
			t.Setenv("XDG_STATE_HOME", "")
			t.Setenv("HOME", root)
			want = filepath.Join(root, ".local", "state", "atmigrate")
		}
		f := newFullMove(t, 4, 1, fakenet.PDSOptions{})
		o := f.opts(t)
		o.StateDir = ""
		res, err := Run(context.Background(), o)
		if !errors.Is(err, failure.ErrPaused) {
			t.Fatalf("xdg %v: %v", xdg, err)
		}
		dir, err := checkpoint.DefaultDir(f.did)
		if err != nil || dir != filepath.Join(want, f.did) || res.StateDir != dir {
			t.Fatalf("xdg %v: default state dir %s %v, the run used %s, want %s", xdg, dir, err, res.StateDir, filepath.Join(want, f.did))
		}
		if st, err := checkpoint.Load(dir); err != nil || st == nil || st.DID != f.did || !st.Done(stage.VerifyNew) {
			t.Fatalf("xdg %v: state there: %+v %v", xdg, st, err)
		}
	}
}

// A wrong or expired email token is bad input (exit 2) that says to check
// the newest email or have a new one sent, as the migration's identity
// stage says (both go through tokenRefused; add-rotation-key once
// returned the refusal as a plain error, exit 1 without a hint).
func TestCoverAddRotationKeyWrongToken(t *testing.T) {
	f := newFakeMove(t)
	o := f.addKeyOpts(didKey(t, k256(t)))
	if _, err := AddRotationKey(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("without a token: %v", err)
	}
	o.PLCToken = "WRONG-TOKEN"
	_, err := AddRotationKey(context.Background(), o)
	wantInput(t, err, "token")
	wantHint(t, err, "token")
}

package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// TestWatchRecoverFake runs watch and recover against the fake PLC
// directory (which nullifies as @did-plc/server does) with its clock and
// ours fixed: a hostile operation signed by B's key, [1] below the user's,
// is seen, refused to the wrong key and after the window, and undone.
func TestWatchRecoverFake(t *testing.T) {
	ctx := context.Background()
	f := newFakeNet(t)
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	clock := base
	f.plc.SetClock(func() time.Time { return clock })
	f.switchToB(t)
	f.b.SetActive(f.did, true)
	f.a.SetActive(f.did, false)
	log := f.plc.Log(f.did)
	mig := log[len(log)-1].CID

	wo := WatchOptions{DID: f.did, PLCURL: f.plc.URL, Keep: mig, NewPDS: f.b.URL, OldPDS: f.a.URL, OldMustBeInactive: true, Now: base.Add(time.Minute)}
	rep, err := Watch(ctx, wo)
	if err != nil || rep.Changed() {
		t.Fatalf("right after the switch: %+v %v", rep, err)
	}
	if rep.Ours.CID != mig || rep.Ours.SignerIndex != 0 || !rep.Ours.WindowEnds.Equal(base.Add(72*time.Hour)) {
		t.Errorf("ours = %+v", rep.Ours)
	}

	// The accounts.
	f.a.SetActive(f.did, true)
	if rep, _ = Watch(ctx, wo); len(rep.AccountProblems) != 1 || !strings.Contains(rep.AccountProblems[0], "active again") {
		t.Errorf("old account active again: %q", rep.Problems)
	}
	f.a.SetActive(f.did, false)
	f.b.SetActive(f.did, false)
	if rep, _ = Watch(ctx, wo); len(rep.AccountProblems) != 1 || !strings.Contains(rep.AccountProblems[0], "new PDS") {
		t.Errorf("new account deactivated: %q", rep.Problems)
	}
	f.b.SetActive(f.did, true)
	f.a.Down()
	if rep, _ = Watch(ctx, wo); rep.Changed() || rep.Old.Known {
		t.Errorf("old PDS down is not a change: %+v %q", rep.Old, rep.Problems)
	}
	f.a.Up()

	clock = base.Add(time.Hour)
	hostile := f.plc.Update(f.did, f.b.RotationPrivateKey(), func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
	})
	wo.Now = base.Add(2 * time.Hour)
	rep, err = Watch(ctx, wo)
	if err != nil || !rep.Changed() || len(rep.Later) != 1 {
		t.Fatalf("after the hostile op: %+v %v", rep, err)
	}
	if l := rep.Later[0]; l.CID != hostile || l.SignerIndex != 1 || l.Signer != f.b.RotationKey() || l.LeftSeconds != int64(71*time.Hour/time.Second) {
		t.Errorf("later = %+v", l)
	}

	ro := RecoverOptions{DID: f.did, PLCURL: f.plc.URL, Keep: mig, Key: f.userKey, Yes: true}
	posts := f.plc.Calls("POST /{did}")
	var ie *failure.InputError
	for _, c := range []struct {
		name string
		o    func(RecoverOptions) RecoverOptions
		want error
	}{
		{"B's key", func(o RecoverOptions) RecoverOptions { o.Key = f.b.RotationPrivateKey(); return o }, plc.ErrKeyNotHighEnough},
		{"A's key", func(o RecoverOptions) RecoverOptions { o.Key = f.a.RotationPrivateKey(); return o }, plc.ErrNotRotationKey},
		{"after the window", func(o RecoverOptions) RecoverOptions {
			o.Now = base.Add(time.Hour + 72*time.Hour + time.Second)
			return o
		}, plc.ErrWindowClosed},
		{"unknown --to", func(o RecoverOptions) RecoverOptions { o.Keep = "bafyreinotinthelog"; return o }, plc.ErrOpNotInLog},
		{"no terminal", func(o RecoverOptions) RecoverOptions { o.Yes = false; return o }, nil},
	} {
		o := c.o(ro)
		if o.Now.IsZero() {
			o.Now = wo.Now
		}
		_, err := Recover(ctx, o)
		if !errors.As(err, &ie) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: want an input error wrapping %v, got %v", c.name, c.want, err)
		}
	}
	if n := f.plc.Calls("POST /{did}") - posts; n != 0 {
		t.Fatalf("%d submissions after refusals", n)
	}

	clock = base.Add(3 * time.Hour)
	ro.Now = clock
	res, err := Recover(ctx, ro)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.plc.Calls("POST /{did}") - posts; n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	if res.OpCID == "" || len(res.Nullified) != 1 || res.Nullified[0] != hostile || res.Endpoint != f.b.PublicURL() {
		t.Errorf("recover: %+v", res)
	}
	wo.Now = clock.Add(time.Minute)
	if rep, err = Watch(ctx, wo); err != nil || rep.Changed() || len(rep.Unchanged) != 1 || rep.Kept.CID != res.OpCID {
		t.Errorf("after the recovery: %+v %v", rep, err)
	}
	if res, err = Recover(ctx, ro); err != nil || res.OpCID != "" {
		t.Errorf("nothing left to undo: %+v %v", res, err)
	}
}

package migrate

import (
	"context"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The gate in front of the identity step does not ask the new PDS again
// what verify-new asked it moments before in the same run: nothing was
// written to it since.
func TestGateStandsOnVerifyNewInTheSameRun(t *testing.T) {
	f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
	o := f.withKey(t)
	asks := func() int {
		return f.b.Calls("com.atproto.repo.listMissingBlobs") + f.b.Calls("com.atproto.server.checkAccountStatus")
	}
	var atVerify, atIdentity, atActivate int
	o.Progress = &logProgress{onStart: func(s stage.Stage) {
		switch s {
		case stage.VerifyNew:
			atVerify = asks()
		case stage.Identity:
			atIdentity = asks()
		case stage.Activate:
			atActivate = asks()
		}
	}}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
	if atIdentity == atVerify {
		t.Fatalf("verify-new asked the new PDS nothing (%d requests before it)", atVerify)
	}
	if n := atActivate - atIdentity; n != 0 {
		t.Errorf("the identity stage asked the new PDS %d more time(s) what verify-new had just confirmed", n)
	}
}

// The gate's answer is never carried over from another process: a run
// resumed after the pause for the email token checks the new PDS again
// before the switch, so a blob it lost while the run was paused is
// uploaded again first.
func TestGateAsksAfreshAfterThePause(t *testing.T) {
	f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	var lost string
	f.b.Modify(f.did, func(a *fakenet.Account) {
		for c := range a.Blobs {
			lost = c
			delete(a.Blobs, c)
			return
		}
	})
	uploads := f.b.Calls("com.atproto.repo.uploadBlob")
	var uploadedBeforeSwitch int
	o.PLCToken = f.a.PLCToken(f.did)
	o.Progress = atStart(stage.Identity, func() {
		uploadedBeforeSwitch = f.b.Calls("com.atproto.repo.uploadBlob") - uploads
	})
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("the resumed run: %v", err)
	}
	finished(t, f.fakeMove)
	if uploadedBeforeSwitch != 1 {
		t.Errorf("%d blob(s) uploaded again before the identity stage, want 1 (the lost one)", uploadedBeforeSwitch)
	}
	if b, _ := f.b.Account(f.did); !hasBlob(&b, lost) {
		t.Errorf("the new PDS still lacks blob %s", lost)
	}
}

func hasBlob(a *fakenet.Account, c string) bool {
	_, ok := a.Blobs[c]
	return ok
}

package migrate

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui/uitest"
	"github.com/atmigrate/atmigrate/migrate/verify"
	"github.com/atmigrate/atmigrate/plc"
)

// finalCheckProgress keeps the final check's note and every warning.
type finalCheckProgress struct {
	uitest.Messages
	mu   sync.Mutex
	note string
}

func (p *finalCheckProgress) StageDone(s stage.Stage, note string) {
	if s == stage.FinalCheck {
		p.mu.Lock()
		p.note = note
		p.mu.Unlock()
	}
}

// The migration's final check says what verify says: extras on the new
// PDS are a warning, in the stage's note and as a progress warning, and
// the run still succeeds.
func TestFinalCheckReportsExtraBlobs(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	f.a.AddBlob(f.did, []byte("kept"), "image/png")
	f.b.AddBlob(f.did, []byte("kept"), "image/png")
	extra := f.b.AddBlob(f.did, []byte("of a record deleted while paused"), "image/png")
	prog := &finalCheckProgress{}
	o := f.opts(t)
	o.Progress = prog
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "1 warning: 1 extra blob(s) on the new PDS: " + extra
	if !strings.Contains(prog.note, want) || !strings.Contains(prog.note, "checks passed") {
		t.Errorf("final check note %q lacks %q", prog.note, want)
	}
	warned := false
	for _, w := range prog.Warnings() {
		warned = warned || (strings.Contains(w, extra) && strings.Contains(w, "nothing is missing"))
	}
	if !warned {
		t.Errorf("no warning names %s: %q", extra, prog.Warnings())
	}
	t.Logf("note: %s\nwarnings: %q", prog.note, prog.Warnings())
}

// What a move leaves passes every check of `atmigrate verify`, in the
// full form too (both repos downloaded, every blob fetched back), which
// the final check does not run. Package verify tests each check against
// states it builds; this is its test against a real move.
func TestMovePassesFullVerify(t *testing.T) {
	f := newFullMove(t, 12, 3, fakenet.PDSOptions{})
	f.a.Modify(f.did, func(a *fakenet.Account) {
		a.Preferences = []byte(`[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`)
	})
	if _, err := Run(context.Background(), f.withKey(t)); err != nil {
		t.Fatal(err)
	}
	po := pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}}
	o := verify.Options{DID: f.did, Document: plc.NewClient(f.plc.URL, nil).State, Old: pds.New(f.a.URL, po), New: pds.New(f.b.URL, po),
		NewPDS: f.b.PublicURL(), ExpectOldDown: true, TempDir: t.TempDir()}
	for _, c := range []*pds.Client{o.Old, o.New} {
		if _, err := c.Login(context.Background(), f.did, fakePassword, ""); err != nil {
			t.Fatal(err)
		}
	}
	r, err := verify.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Warnings()) != 0 {
		t.Fatalf("%s %+v", r.Problems(), r.Checks)
	}
	for _, c := range r.Checks {
		if !c.OK || c.Skipped {
			t.Errorf("%+v", c)
		}
	}
	if len(r.Checks) != 11 {
		t.Errorf("%d checks, want the 11 of a full verify: %+v", len(r.Checks), r.Checks)
	}
}

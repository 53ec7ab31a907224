package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The state dir across runs: an interrupted run is recorded as such and
// resumed by the same command; a finished one is not taken over by
// another move.

func TestInterruptedRunResumes(t *testing.T) {
	f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
	o := f.withKey(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Progress = atStart(stage.Blobs, cancel) // Ctrl-C as the uploads start
	res, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want the run interrupted, got %v", err)
	}
	if st := res.State; st.LastError != "interrupted" || st.LastErrorStage != stage.Blobs || !st.Done(stage.ImportRepo) || st.Done(stage.Blobs) {
		t.Fatalf("state after the interruption: last error %q in %q, stages %+v", st.LastError, st.LastErrorStage, st.Stages)
	}
	untouched(t, f.fakeMove)

	o.Progress = nil
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
	if b, _ := f.b.Account(f.did); b.Imports != 1 || res.State.LastError != "" {
		t.Errorf("after the resumed run: %d imports, last error %q", b.Imports, res.State.LastError)
	}
}

func TestFinishedStateDirRefusesAnotherMove(t *testing.T) {
	f := newFullMove(t, 4, 1, fakenet.PDSOptions{})
	o := f.withKey(t)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	again := o
	again.NewPDS = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{}).URL
	_, err := Run(context.Background(), again)
	wantInput(t, err, "holds the finished migration to "+f.b.URL)
	wantHint(t, err, "another {state-dir}")
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrAlreadyMigrated) {
		t.Errorf("the same command after success: %v", err)
	}
}

// What `atmigrate watch` reads from a finished migration's state: the
// operation to keep and both accounts, the old one to stay deactivated.
func TestWatchOptionsFromState(t *testing.T) {
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	st, _ := checkpoint.Load(o.StateDir)
	_, err := identity.WatchOptionsFromState(st)
	wantInput(t, err, "has not submitted its PLC operation")

	res, _ := withToken(t, f.fakeMove, o)
	wo, err := identity.WatchOptionsFromState(res.State)
	if err != nil {
		t.Fatal(err)
	}
	if wo.DID != f.did || wo.Keep != res.State.PLC.OpCID || wo.NewPDS != f.b.URL || wo.OldPDS != f.a.URL || !wo.OldMustBeInactive || wo.PLCURL != f.plc.URL {
		t.Fatalf("watch options %+v", wo)
	}
	rep, err := identity.Watch(context.Background(), wo)
	if err != nil || rep.Changed() {
		t.Fatalf("watch right after the move: %+v %v", rep, err)
	}
	f.a.SetActive(f.did, true)
	if rep, err := identity.Watch(context.Background(), wo); err != nil || !rep.Changed() {
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
	if wo, err := identity.WatchOptionsFromState(res.State); err != nil || wo.OldMustBeInactive {
		t.Errorf("after {no-deactivate-old}: %+v %v", wo, err)
	}
}

// Without --state-dir the state goes under $XDG_STATE_HOME/atmigrate/<did>
// (or ~/.local/state/atmigrate/<did>), where the next run finds it.
func TestDefaultStateDir(t *testing.T) {
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

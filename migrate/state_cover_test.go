package migrate

import (
	"context"
	"errors"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The state dir across runs: an interrupted run is recorded as such and
// resumed by the same command; a finished one is not taken over by
// another move.

func TestCoverInterruptedRunResumes(t *testing.T) {
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

func TestCoverFinishedStateDirRefusesAnotherMove(t *testing.T) {
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

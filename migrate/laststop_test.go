package migrate

import (
	"context"
	"errors"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// Each way a run ends is recorded in the state file as LastStop, so that
// `status` reads a field instead of LastError's words.
func TestLastStopRecorded(t *testing.T) {
	saved := func(t *testing.T, dir string) *checkpoint.State {
		t.Helper()
		st, err := checkpoint.Load(dir)
		if err != nil || st == nil {
			t.Fatalf("state in %s: %v, %v", dir, st, err)
		}
		return st
	}

	t.Run("PausedThenCompleted", func(t *testing.T) {
		f := newFullMove(t, 20, 2, fakenet.PDSOptions{})
		o := f.opts(t)
		if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
			t.Fatalf("first run: want paused for the token, got %v", err)
		}
		if st := saved(t, o.StateDir); st.LastStop != checkpoint.StopPausedToken || st.Completed {
			t.Errorf("after the pause: lastStop %q, completed %v; want %q", st.LastStop, st.Completed, checkpoint.StopPausedToken)
		}
		o.PLCToken = f.a.PLCToken(f.did)
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatalf("with the token: %v", err)
		}
		if st := saved(t, o.StateDir); st.LastStop != checkpoint.StopCompleted || st.LastError != "" {
			t.Errorf("after success: lastStop %q, lastError %q; want %q and none", st.LastStop, st.LastError, checkpoint.StopCompleted)
		}
	})

	t.Run("Interrupted", func(t *testing.T) {
		f := newFullMove(t, 20, 2, fakenet.PDSOptions{})
		o := f.opts(t)
		ctx, cancel := context.WithCancel(context.Background())
		o.Progress = cancelAt{stage: stage.Blobs, cancel: cancel}
		if _, err := Run(ctx, o); err == nil {
			t.Fatal("a cancelled run succeeded")
		}
		if st := saved(t, o.StateDir); st.LastStop != checkpoint.StopInterrupted {
			t.Errorf("lastStop %q, want %q", st.LastStop, checkpoint.StopInterrupted)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
		f.b.Fail("com.atproto.repo.uploadBlob", 1, 413, "PayloadTooLarge", "request entity too large")
		o := f.withKey(t)
		if _, err := Run(context.Background(), o); err == nil {
			t.Fatal("a refused upload succeeded")
		}
		if st := saved(t, o.StateDir); st.LastStop != checkpoint.StopFailedPermanent {
			t.Errorf("lastStop %q, want %q", st.LastStop, checkpoint.StopFailedPermanent)
		}
	})

	t.Run("Transient", func(t *testing.T) {
		f := newFullMove(t, 20, 2, fakenet.PDSOptions{})
		// More 503s than the test's retry policy makes attempts.
		f.b.Fail("com.atproto.repo.importRepo", 10, 503, "Unavailable", "try later")
		o := f.opts(t)
		if _, err := Run(context.Background(), o); err == nil {
			t.Fatal("a run whose import kept failing succeeded")
		}
		if st := saved(t, o.StateDir); st.LastStop != checkpoint.StopFailed || st.LastErrorStage != stage.ImportRepo {
			t.Errorf("lastStop %q at %q, want %q at %q", st.LastStop, st.LastErrorStage, checkpoint.StopFailed, stage.ImportRepo)
		}
	})
}

// cancelAt cancels the run when stage starts: an interruption mid-run.
type cancelAt struct {
	ui.NopProgress
	stage  stage.Stage
	cancel context.CancelFunc
}

func (c cancelAt) StageStart(s stage.Stage) {
	if s == c.stage {
		c.cancel()
	}
}

package batch

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// recordOutcome sets an entry's status, error and hint from how its run
// ended; say (Options.Say, may be nil) words the choices they name.
func recordOutcome(ctx context.Context, e *Entry, err error, say func(string) string) {
	e.Error, e.Hint = "", ""
	var ie *failure.InputError
	var se *failure.StageError
	if errors.As(err, &se) {
		e.Stage = se.Stage
	}
	switch {
	case err == nil || errors.Is(err, failure.ErrAlreadyMigrated):
		e.Status = Migrated
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		e.Status, e.Error = Pending, "interrupted"
	case errors.Is(err, failure.ErrPaused):
		e.Status, e.Error = AwaitingToken, "waiting for the PLC email token"
		e.Hint = "run the batch again soon with {tokens} FILE (account,token): the tokens are short-lived; or use {plc-rotation-key}"
	case errors.As(err, &ie):
		e.Status, e.Error, e.Hint = FailedPermanent, err.Error(), failure.Hint(err)
	default:
		e.Status, e.Error, e.Hint = Failed, err.Error(), "retried on the next run"
	}
	if say != nil {
		e.Error, e.Hint = say(e.Error), say(e.Hint)
	}
}

// refreshEntry takes the counts (and a completion by a single-account
// run) from the account's own state file.
func refreshEntry(dir string, e *Entry) {
	if e.DID == "" {
		return
	}
	st, err := checkpoint.Load(filepath.Join(dir, e.DID))
	if err != nil || st == nil {
		return
	}
	countsFrom(e, st)
	if st.Completed && e.Status != Migrated {
		e.Status, e.Error, e.Hint = Migrated, "", ""
	}
}

func countsFrom(e *Entry, st *checkpoint.State) {
	e.Records = st.Repo.Records
	e.Blobs = st.Blobs.Total
	e.Bytes = st.Repo.Bytes + st.Blobs.TotalBytes
	if st.PLC.Method != "" {
		e.PLCMethod = st.PLC.Method
	}
}

// stageTracker remembers the last stage an account started.
// onTail, when set, is called as the account starts a stage after the
// data (runAccounts).
type stageTracker struct {
	ui.Progress
	onTail func()
	mu     sync.Mutex
	stage  stage.Stage
}

func (t *stageTracker) StageStart(s stage.Stage) {
	t.mu.Lock()
	t.stage = s
	t.mu.Unlock()
	if t.onTail != nil && slices.Contains(tailStages, s) {
		t.onTail()
	}
	t.Progress.StageStart(s)
}

func (t *stageTracker) last() stage.Stage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stage
}

package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// After the switch the new PDS signs a commit of its own over the same
// records (the reference PDS keeps the imported commit, signed by the old
// PDS's key, which relays refuse): made once, and not again on a re-run.
func TestSignCommitAfterActivation(t *testing.T) {
	f := newFullMove(t, 20, 2, fakenet.PDSOptions{})
	o := f.withKey(t)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, _ := f.b.Account(f.did)
	if b.Writes != 1 || b.CommitCID == b.Imported || b.Imported != f.repo.CommitCID.String() {
		t.Errorf("new PDS: %d commits made, head %s, imported %s (exported %s): want one commit of its own after the import", b.Writes, b.CommitCID, b.Imported, f.repo.CommitCID)
	}
	note := res.State.Stages[stage.SignCommit].Note
	if !strings.Contains(note, "signed by "+b.SigningKey) || !strings.Contains(note, "same records") {
		t.Errorf("sign-commit note %q", note)
	}
	// The final check proved the records unchanged and the signature.
	if fc := res.State.Stages[stage.FinalCheck].Note; !strings.Contains(fc, "checks passed") || strings.Contains(fc, "warning") {
		t.Errorf("final check %q", fc)
	}
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrAlreadyMigrated) {
		t.Fatalf("second run: %v, want already migrated", err)
	}
	if b, _ := f.b.Account(f.did); b.Writes != 1 {
		t.Errorf("the second run made %d commits in all, want still 1", b.Writes)
	}
}

// A run that created the account itself asks only what it lacks to sign
// the commit: the repo's latest commit and its block (no scratch record of
// an earlier run can be in an account made moments ago), the write, and
// the block of the commit it made; the DID's key is the one the identity
// stage just saw.
func TestSignCommitAsksOnlyWhatItLacks(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{})
	o := f.withKey(t)
	calls := []string{"com.atproto.sync.getLatestCommit", "com.atproto.sync.getBlocks", "com.atproto.repo.getRecord", "com.atproto.repo.applyWrites"}
	count := func() []int {
		n := []int{f.plc.Calls("GET /{did}/log/audit") + f.plc.Calls("GET /{did}/data") + f.plc.Calls("GET /{did}")}
		for _, c := range calls {
			n = append(n, f.b.Calls(c))
		}
		return n
	}
	var before, after []int
	o.Progress = &logProgress{onStart: func(s stage.Stage) {
		switch s {
		case stage.SignCommit:
			before = count()
		case stage.DeactivateOld:
			after = count()
		}
	}}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 0, 1}
	for i, w := range want {
		if got := after[i] - before[i]; got != w {
			what := "PLC directory reads"
			if i > 0 {
				what = calls[i-1]
			}
			t.Errorf("sign-commit sent %d %s, want %d", got, what, w)
		}
	}
}

// A PDS that refuses a commit with no write gets a record created in the
// tool's own collection and deleted at once: two commits of its own, the
// data as imported, nothing left behind.
func TestSignCommitCreateAndDelete(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{RefuseEmptyWrites: true})
	res, err := Run(context.Background(), f.withKey(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, _ := f.b.Account(f.did)
	if b.Writes != 2 || len(b.Records) != 0 || b.CommitCID == b.Imported {
		t.Errorf("new PDS: %d commits, records left %v, head %s (imported %s): want a create and a delete", b.Writes, b.Records, b.CommitCID, b.Imported)
	}
	if fc := res.State.Stages[stage.FinalCheck].Note; strings.Contains(fc, "warning") {
		t.Errorf("final check %q", fc)
	}
}

// A run stopped between the create and the delete leaves the record; the
// same command run again deletes it (the latest commit is by then signed
// by the new PDS, which alone would look done).
func TestSignCommitLeftoverDeleted(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{RefuseEmptyWrites: true, FailDeletes: 1})
	o := f.withKey(t)
	o.Retry = fastRetry()
	if _, err := Run(context.Background(), o); err == nil {
		t.Fatal("the first run passed although the delete failed")
	}
	if b, _ := f.b.Account(f.did); len(b.Records) != 1 {
		t.Fatalf("records after the failed delete: %v, want the scratch record", b.Records)
	}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if b, _ := f.b.Account(f.did); len(b.Records) != 0 {
		t.Errorf("records after the second run: %v, want none", b.Records)
	}
}

// A PDS that refuses the commit (here: it refuses an empty write and the
// record of the fallback alike) stops the run at sign-commit, before the
// old account is deactivated, saying what it means and what to do.
func TestSignCommitRefused(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{RefuseEmptyWrites: true, RefuseRecordWrites: true})
	_, err := Run(context.Background(), f.withKey(t))
	var se *failure.StageError
	if !errors.As(err, &se) || se.Stage != stage.SignCommit {
		t.Fatalf("want a sign-commit stop, got %v", err)
	}
	if !strings.Contains(se.Hint, "run the same command again") || !strings.Contains(se.Hint, "post anything") {
		t.Errorf("hint %q", se.Hint)
	}
	if a, _ := f.a.Account(f.did); a.Deactivated {
		t.Error("the old account was deactivated")
	}
}

// fastRetry gives up after two quick attempts, so a failure the test
// makes stops the run at once.
func fastRetry() *pds.RetryPolicy {
	return &pds.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: time.Second}
}

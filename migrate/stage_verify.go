package migrate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// checkStages check that the new PDS holds everything, and catch up
// with what the account wrote meanwhile.
type checkStages struct {
	*env
	*facts
	sd   *stateDir
	from *origin
	to   *destination
	data *dataCopy
	// copy uploads the blobs a catch-up brings.
	copy *copyStages
	// passedAt is when checkNewHasEverything last passed in this process,
	// and passedCommit the commit the new PDS was found to hold then.
	passedAt     time.Time
	passedCommit string
}

// gateFreshFor is how long checkNewHasEverything's pass stands in for the
// gate's own: long enough to span the catch-up's one request and the PLC
// read between verify-new and the gate, short enough that nothing a
// person does in between is missed.
const gateFreshFor = 30 * time.Second

// gate is the check in front of the identity step: checkNewHasEverything,
// unless it passed in this process less than gateFreshFor ago over the
// same commit (verify-new, or a catch-up that imported, just before): the
// run wrote nothing to the new PDS since, and asking again would only
// repeat the answer. The pass is never carried over from another process:
// a resumed run (after the pause for the email token, say) checks again,
// in verify-new or here.
func (ck *checkStages) gate(ctx context.Context) error {
	if !ck.passedAt.IsZero() && time.Since(ck.passedAt) < gateFreshFor && ck.passedCommit == ck.sd.st.Repo.Commit {
		return nil
	}
	_, err := ck.checkNewHasEverything(ctx)
	return err
}

// verifyNew checks, from the new PDS's own answers, that it holds the
// exported repo and every blob. It is the gate in front of the identity
// stage.
func (ck *checkStages) verifyNew(ctx context.Context) (string, error) {
	if ck.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	return ck.checkNewHasEverything(ctx)
}

// checkNewHasEverything is the gate: the repo by the protocol's test (see
// destination.holdsRepo), every blob listed as present and confirmed (see
// transfer.Blobs.Confirm). The new PDS's own counts are shown, not trusted.
//
// The three asks (the repo, the blobs, the counts) are independent and
// run at once; their answers are judged in that order.
func (ck *checkStages) checkNewHasEverything(ctx context.Context) (string, error) {
	var (
		held             repoHeld
		heldErr, blobErr error
		moved            int
		counts           string
		wg               sync.WaitGroup
	)
	wg.Go(func() { held, heldErr = ck.to.holdsRepo(ctx, ck.did, ck.sd.st.Repo) })
	wg.Go(func() { moved, blobErr = ck.data.blobCopy().Confirm(ctx) })
	wg.Go(func() { counts = ck.to.counts(ctx) })
	wg.Wait()
	if heldErr != nil {
		return "", heldErr
	}
	if !held.Held {
		hint := "run the same command again: the import is repeated"
		if held.BadSignature {
			hint = "the new PDS signs the repo with a key other than the one it names for the account, and the DID would point at a repo nobody can verify: nothing irreversible was done; ask its admin"
		}
		return "", &failure.StageError{Stage: stage.VerifyNew, Err: fmt.Errorf("the new PDS does not hold the exported repo: %s", held.Why), Hint: hint}
	}
	if blobErr != nil {
		return "", blobErr
	}
	ck.passedAt, ck.passedCommit = time.Now(), ck.sd.st.Repo.Commit
	note := fmt.Sprintf("%s, %d blobs confirmed (%s)", held, moved, counts)
	if n := len(ck.data.sizeLimits().LeftBehind()); n > 0 {
		note += fmt.Sprintf("; %d blob(s) left behind at your request", n)
	}
	return note, nil
}

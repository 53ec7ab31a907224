package migrate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// stageVerifyNew checks, from the new PDS's own answers, that it holds the
// exported repo and every blob. It is the gate in front of the identity
// stage.
func (m *Migrator) stageVerifyNew(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	return m.checkNewHasEverything(ctx)
}

// checkNewHasEverything is the gate: the repo by the protocol's test (see
// newHoldsRepo), every blob listed as present and confirmed (see
// blob_confirm.go). The new PDS's own counts are shown, not trusted.
func (m *Migrator) checkNewHasEverything(ctx context.Context) (string, error) {
	held, err := m.newHoldsRepo(ctx, m.st.Repo)
	if err != nil {
		return "", err
	}
	if !held.Held {
		hint := "run the same command again: the import is repeated"
		if held.BadSignature {
			hint = "the new PDS signs the repo with a key other than the one it names for the account, and the DID would point at a repo nobody can verify: nothing irreversible was done; ask its admin"
		}
		return "", &failure.StageError{Stage: stage.VerifyNew, Err: fmt.Errorf("the new PDS does not hold the exported repo: %s", held.Why), Hint: hint}
	}
	listed, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	missing := m.withoutLeftBehind(listed)
	m.setMissing(missing)
	if len(missing) > 0 {
		return "", &failure.StageError{Stage: stage.VerifyNew, Err: missingBlobsError(missing, nil),
			Hint: "run the same command again to copy the missing blobs"}
	}
	bad, err := m.fetchBack(ctx, m.unconfirmed(nil))
	if err != nil {
		return "", err
	}
	if err := m.save(); err != nil {
		return "", err
	}
	if len(bad) > 0 {
		return "", &failure.StageError{Stage: stage.VerifyNew, Err: unservedBlobsError(bad),
			Hint: "run the same command again: the blobs stage uploads them again"}
	}
	moved := len(m.movable(m.blobRefs))
	note := fmt.Sprintf("%s, %d blobs confirmed (%s)", held, moved, m.accountCounts(ctx))
	if n := len(m.leftBehindSet()); n > 0 {
		note += fmt.Sprintf("; %d blob(s) left behind at your request", n)
	}
	return note, nil
}

// unservedBlobsError names the blobs the new PDS lists as present but
// does not serve as they are.
func unservedBlobsError(bad map[string]error) error {
	lines := make([]string, 0, len(bad))
	for c, err := range bad {
		lines = append(lines, c+": "+err.Error())
	}
	sort.Strings(lines)
	return fmt.Errorf("%d blob(s) are not listed as missing by the new PDS but could not be fetched back from it:\n  %s",
		len(bad), strings.Join(units.FirstN(lines, 10), "\n  "))
}

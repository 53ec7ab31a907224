package migrate

import (
	"context"
	"fmt"
)

// stageVerifyNew checks, from the new PDS's own answers, that it holds the
// exported commit and every blob. It is the gate in front of the identity
// stage.
func (m *Migrator) stageVerifyNew(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	return m.checkNewHasEverything(ctx)
}

func (m *Migrator) checkNewHasEverything(ctx context.Context) (string, error) {
	st, err := m.new.CheckAccountStatus(ctx)
	if err != nil {
		return "", fmt.Errorf("check the account on %s: %w", m.opts.NewPDS, err)
	}
	// The new PDS keeps the imported commit's CID: equal CIDs mean equal
	// Merkle trees, so every record is there with the same CID.
	if st.RepoCommit != m.st.Repo.Commit {
		return "", &StageError{Stage: StageVerifyNew,
			Err:  fmt.Errorf("the new PDS holds commit %s, the exported repo is %s", st.RepoCommit, m.st.Repo.Commit),
			Hint: "run the same command again: the import is repeated"}
	}
	missing, err := m.new.ListMissingBlobs(ctx)
	if err != nil {
		return "", fmt.Errorf("list missing blobs on %s: %w", m.opts.NewPDS, err)
	}
	m.setMissing(missing)
	if len(missing) > 0 {
		return "", &StageError{Stage: StageVerifyNew, Err: missingBlobsError(missing, nil),
			Hint: "run the same command again to copy the missing blobs"}
	}
	if st.ExpectedBlobs != st.ImportedBlobs {
		return "", &StageError{Stage: StageVerifyNew,
			Err:  fmt.Errorf("the new PDS expects %d blobs and has %d", st.ExpectedBlobs, st.ImportedBlobs),
			Hint: "run the same command again to copy the missing blobs"}
	}
	if m.st.Repo.Records > 0 && st.IndexedRecords != int64(m.st.Repo.Records) {
		m.prog.Warn(fmt.Sprintf("the new PDS indexed %d records, the repo has %d (the commit matches, so the records are there)", st.IndexedRecords, m.st.Repo.Records))
	}
	return fmt.Sprintf("commit %s, %d records, %d/%d blobs", st.RepoCommit, st.IndexedRecords, st.ImportedBlobs, st.ExpectedBlobs), nil
}

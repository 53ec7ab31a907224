package migrate

import (
	"context"
	"fmt"
	"os"
)

// stageImportRepo streams repo.car into the new PDS. A resumed run asks the
// new PDS which commit it holds instead of trusting the checkpoint.
func (m *Migrator) stageImportRepo(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	if st, err := m.new.CheckAccountStatus(ctx); err == nil && st.RepoCommit == m.st.Repo.Commit && st.RepoCommit != "" {
		if st.Activated {
			return "", skip("the new account is active and holds commit %s", st.RepoCommit)
		}
		if m.st.Done(StageImportRepo) {
			return "", skip("the new PDS already holds commit %s", st.RepoCommit)
		}
	}
	if err := m.importCAR(ctx, m.path("repo.car")); err != nil {
		return "", err
	}
	m.mu.Lock()
	m.st.Repo.ImportedCommit = m.st.Repo.Commit
	m.mu.Unlock()
	return fmt.Sprintf("%.1f MB imported", mb(m.st.Repo.Bytes)), nil
}

// importCAR streams one CAR file into the new PDS with its length known.
func (m *Migrator) importCAR(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m.prog.Transfer(TransferRepoImport, 1, fi.Size())
	if err := m.new.ImportRepo(ctx, f, fi.Size(), func(n int64) { m.prog.Advance(TransferRepoImport, 0, n) }); err != nil {
		return fmt.Errorf("import the repo into %s: %w", m.opts.NewPDS, err)
	}
	m.prog.Advance(TransferRepoImport, 1, 0)
	crashPoint("import-sent")
	return nil
}

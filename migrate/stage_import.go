package migrate

import (
	"context"
	"fmt"
	"os"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// stageImportRepo streams repo.car into the new PDS. Every run asks the new
// PDS whether it already holds the exported repo (newHoldsRepo) instead of
// trusting the checkpoint, so a repo already there, whoever put it there,
// is not imported again.
func (m *Migrator) stageImportRepo(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	held, err := m.newHoldsRepo(ctx, m.st.Repo)
	if err != nil {
		return "", err
	}
	if held.Held {
		return "", skip("the new PDS already holds the exported repo (%s)", held)
	}
	if err := m.importCAR(ctx, m.path("repo.car")); err != nil {
		if refused := m.importRefusedError(err); refused != nil {
			return "", refused
		}
		return "", err
	}
	m.journal().Update(func(*checkpoint.State) {
		m.st.Repo.ImportedCommit = m.st.Repo.Commit
	})
	return fmt.Sprintf("%.1f MB imported", units.MB(m.st.Repo.Bytes)), nil
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
	m.prog.Transfer(ui.TransferRepoImport, 1, fi.Size())
	if err := m.new.ImportRepo(ctx, f, fi.Size(), func(n int64) { m.prog.Advance(ui.TransferRepoImport, 0, n) }); err != nil {
		return fmt.Errorf("import the repo into %s: %w", m.opts.NewPDS, err)
	}
	m.prog.Advance(ui.TransferRepoImport, 1, 0)
	crashpoint.At("import-sent")
	return nil
}

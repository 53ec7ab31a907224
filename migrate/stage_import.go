package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// stageImportRepo streams repo.car into the new PDS. Every run asks the new
// PDS whether it already holds the exported repo (destination.holdsRepo)
// instead of trusting the checkpoint, so a repo already there, whoever put
// it there, is not imported again.
func (m *Migrator) stageImportRepo(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	held, err := m.to.holdsRepo(ctx, m.did, m.sd.st.Repo)
	if err != nil {
		return "", err
	}
	if held.Held {
		return "", skip("the new PDS already holds the exported repo (%s)", held)
	}
	effect := Effect{Stage: stage.ImportRepo, What: fmt.Sprintf("import the repo (%s, rev %s) into %s", units.HumanBytes(m.sd.st.Repo.Bytes), m.sd.st.Repo.Rev, m.opts.NewPDS)}
	if err := m.act.act(ctx, effect, func(ctx context.Context) error { return transfer.Import(ctx, m.to.pds, m.prog, m.sd.path("repo.car")) }); err != nil {
		if refused := m.data.sizeLimits().ImportRefused(err, m.sd.st.Repo.Bytes); refused != nil {
			return "", refused
		}
		return "", err
	}
	m.sd.journal().Update(func(st *checkpoint.State) { st.Repo.ImportedCommit = st.Repo.Commit })
	return fmt.Sprintf("%.1f MB imported", units.MB(m.sd.st.Repo.Bytes)), nil
}

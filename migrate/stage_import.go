package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// importRepo streams repo.car into the new PDS. Every run asks the new
// PDS whether it already holds the exported repo (destination.holdsRepo)
// instead of trusting the checkpoint, so a repo already there, whoever put
// it there, is not imported again; an account this run created a moment
// ago is not asked.
func (c *copyStages) importRepo(ctx context.Context) (string, error) {
	if c.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	var held repoHeld
	if !c.createdNow { // an account this run just made holds only its empty repo
		var err error
		if held, err = c.to.holdsRepo(ctx, c.did, c.sd.st.Repo); err != nil {
			return "", err
		}
	}
	if held.Held {
		return "", skip("the new PDS already holds the exported repo (%s)", held)
	}
	effect := Effect{Stage: stage.ImportRepo, What: fmt.Sprintf("import the repo (%s, rev %s) into %s", units.HumanBytes(c.sd.st.Repo.Bytes), c.sd.st.Repo.Rev, c.opts.NewPDS)}
	if err := c.act.act(ctx, effect, func(ctx context.Context) error { return transfer.Import(ctx, c.to.pds, c.prog, c.sd.path("repo.car")) }); err != nil {
		if refused := c.data.sizeLimits().ImportRefused(err, c.sd.st.Repo.Bytes); refused != nil {
			return "", refused
		}
		return "", err
	}
	c.sd.journal().Update(func(st *checkpoint.State) { st.Repo.ImportedCommit = st.Repo.Commit })
	return fmt.Sprintf("%.1f MB imported", units.MB(c.sd.st.Repo.Bytes)), nil
}

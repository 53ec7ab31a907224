package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/repo"
)

// stageExportRepo streams the repo to repo.car and verifies it in the same
// pass (commit signature, complete MST, every record present). Blob
// downloads start as soon as the blob list is known, so the old PDS serves
// them while the new one creates the account and imports.
func (m *Migrator) stageExportRepo(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	carPath := m.sd.path("repo.car")
	if m.sd.exported(carPath) {
		if err := m.data.blobList().Load(); err == nil {
			vo, _, err := m.from.repoVerifyOptions(m.did, m.plcState, false)
			if err != nil {
				return "", err
			}
			ok, err := transfer.LocalRepoGood(ctx, carPath, m.sd.st.Repo.Commit, vo, m.prog)
			if err != nil {
				return "", err
			}
			if ok {
				if err := m.afterExport(ctx); err != nil {
					return "", err
				}
				return "", skip("already exported (rev %s, the local copy re-checked)", m.sd.st.Repo.Rev)
			}
		}
	}
	sum, ok, err := m.data.takeEarly(ctx)
	if err != nil {
		return "", err
	}
	vo, keys, err := m.from.repoVerifyOptions(m.did, m.plcState, false)
	if err != nil {
		return "", err
	}
	if !ok {
		if sum, err = transfer.ExportAndVerify(ctx, m.from.src, m.prog, "", carPath, vo); err != nil {
			return "", err
		}
	}
	if m.found.keyNote = identity.EarlierKeyNote(keys, sum, m.from.src.Name()); m.found.keyNote != "" {
		m.prog.Info(m.found.keyNote)
	}
	m.sd.journal().Update(func(st *checkpoint.State) {
		st.Repo = checkpoint.RepoInfo{Commit: sum.Commit, Rev: sum.Rev, Data: sum.Data, Bytes: sum.Bytes, Records: sum.Records}
	})
	if err := m.data.blobList().Set(sum.Blobs); err != nil {
		return "", err
	}
	// Recorded before the prefetch starts: a run killed from here on
	// re-checks this copy instead of downloading the repo again.
	if err := m.sd.save(); err != nil {
		return "", err
	}
	if err := m.afterExport(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d records, %.1f MB, rev %s, %d blobs", sum.Records, units.MB(sum.Bytes), sum.Rev, len(sum.Blobs)), nil
}

// afterExport runs what must hold once the repo and its blob list are
// known, before anything is written to the new PDS: every blob fits the
// new PDS's upload limit (or the user chose to move without those that do
// not), the disk can hold the uploads in flight, and the prefetch starts.
func (m *Migrator) afterExport(ctx context.Context) error {
	limits := m.data.sizeLimits()
	if err := limits.Check(m.data.blobList().Refs()); err != nil {
		return err
	}
	if w := limits.ImportSizeWarning(m.sd.st.Repo.Bytes); w != "" {
		m.doubt(w)
	}
	blobs := m.data.blobCopy()
	if err := blobs.CheckDiskRoom(m.sd.st.BoundToTarget()); err != nil {
		return err
	}
	ahead := Effect{Stage: stage.ExportRepo, What: fmt.Sprintf("download the %d blobs to move into %s, ahead of the uploads", len(limits.Movable(m.data.blobList().Refs())), m.sd.dir)}
	if err := m.do(ctx, ahead, blobs.Start); err != nil {
		m.prog.Warn(fmt.Sprintf("cannot open the blob store: %v", err))
	}
	return nil
}

// exportAndVerify downloads the repo (or the diff since a rev) from the
// run's source, verified as it arrives.
func (m *Migrator) exportAndVerify(ctx context.Context, since, path string, vo repo.VerifyOptions) (*repo.Summary, error) {
	return transfer.ExportAndVerify(ctx, m.from.src, m.prog, since, path, vo)
}

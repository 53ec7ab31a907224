package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// copyStages copy the account's data from the origin to the new PDS:
// the repo exported and imported, the blobs, the preferences.
type copyStages struct {
	*env
	*facts
	sd    *stateDir
	from  *origin
	to    *destination
	data  *dataCopy
	found *findings
}

// exportRepo streams the repo to repo.car and verifies it in the same
// pass (commit signature, complete MST, every record present). Blob
// downloads start as soon as the blob list is known, so the old PDS serves
// them while the new one creates the account and imports.
func (c *copyStages) exportRepo(ctx context.Context) (string, error) {
	if c.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	carPath := c.sd.path("repo.car")
	if c.sd.exported(carPath) {
		if err := c.data.blobList().Load(); err == nil {
			vo, _, err := c.from.repoVerifyOptions(c.did, c.plcState, false)
			if err != nil {
				return "", err
			}
			ok, err := transfer.LocalRepoGood(ctx, carPath, c.sd.st.Repo.Commit, vo, c.prog)
			if err != nil {
				return "", err
			}
			if ok {
				if err := c.afterExport(ctx); err != nil {
					return "", err
				}
				return "", skip("already exported (rev %s, the local copy re-checked)", c.sd.st.Repo.Rev)
			}
		}
	}
	sum, ok, err := c.data.takeEarly(ctx)
	if err != nil {
		return "", err
	}
	vo, keys, err := c.from.repoVerifyOptions(c.did, c.plcState, false)
	if err != nil {
		return "", err
	}
	if !ok {
		if sum, err = transfer.ExportAndVerify(ctx, c.from.src, c.prog, "", carPath, vo); err != nil {
			return "", err
		}
	}
	if c.found.keyNote = identity.EarlierKeyNote(keys, sum, c.from.src.Name()); c.found.keyNote != "" {
		c.prog.Info(c.found.keyNote)
	}
	if w := undecodedWarning(sum.UndecodedRecords); w != "" {
		c.prog.Warn(w)
	}
	c.sd.journal().Update(func(st *checkpoint.State) {
		st.Repo = checkpoint.RepoInfo{Commit: sum.Commit, Rev: sum.Rev, Data: sum.Data, Bytes: sum.Bytes, Records: sum.Records}
	})
	if err := c.data.blobList().Set(sum.Blobs); err != nil {
		return "", err
	}
	// Recorded before the prefetch starts: a run killed from here on
	// re-checks this copy instead of downloading the repo again.
	if err := c.sd.save(); err != nil {
		return "", err
	}
	if err := c.afterExport(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d records, %.1f MB, rev %s, %d blobs", sum.Records, units.MB(sum.Bytes), sum.Rev, len(sum.Blobs)), nil
}

// afterExport runs what must hold once the repo and its blob list are
// known, before anything is written to the new PDS: every blob fits the
// new PDS's upload limit (or the user chose to move without those that do
// not), the disk can hold the uploads in flight, and the prefetch starts.
func (c *copyStages) afterExport(ctx context.Context) error {
	limits := c.data.sizeLimits()
	if err := limits.Check(c.data.blobList().Refs()); err != nil {
		return err
	}
	if w := limits.ImportSizeWarning(c.sd.st.Repo.Bytes); w != "" {
		c.doubt(w)
	}
	blobs := c.data.blobCopy()
	if err := blobs.CheckDiskRoom(c.sd.st.BoundToTarget()); err != nil {
		return err
	}
	ahead := Effect{Stage: stage.ExportRepo, What: fmt.Sprintf("download the %d blobs to move into %s, ahead of the uploads", len(limits.Movable(c.data.blobList().Refs())), c.sd.dir)}
	if err := c.do(ctx, ahead, blobs.Start); err != nil {
		c.prog.Warn(fmt.Sprintf("cannot open the blob store: %v", err))
	}
	return nil
}

// undecodedWarning says what n records the verifier could not decode (no
// PDS writes such records) mean for the move: they move as they are, but
// the blobs they may reference are not in the repo's blob list, so the
// upload-limit check before the account is created does not see them;
// the blob stage still copies whatever the new PDS lists as missing.
func undecodedWarning(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s in the repo could not be decoded (outside the atproto data model, or nested over 128 levels): they move as they are, "+
		"but any blob they reference was not checked against the new PDS's upload limit; it is copied once the new PDS lists it as missing",
		units.Count(n, "record"))
}

package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// stageBlobs copies every blob the new PDS lacks (transfer.Blobs.Copy): a
// blob that cannot be moved stops the migration before the identity stage.
func (m *Migrator) stageBlobs(ctx context.Context) (string, error) {
	if m.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	blobs := m.blobCopy()
	var res transfer.Result
	effect := Effect{Stage: stage.Blobs, What: fmt.Sprintf("upload the blobs %s lacks (of %d, %s in all)", m.opts.NewPDS, len(m.blobList().Refs()), units.HumanBytes(m.sd.st.Blobs.TotalBytes))}
	if err := m.act.act(ctx, effect, func(ctx context.Context) (err error) {
		res, err = blobs.Copy(ctx)
		return err
	}); err != nil {
		return "", err
	}
	if res.Missing == 0 && m.sd.st.Done(stage.Blobs) {
		// A resumed run: keep the note of the run that uploaded them.
		return "", skip("all %d blobs on the new PDS", len(m.blobList().Refs()))
	}
	return blobs.Note(res), nil
}

// blobList is the export's blob list, kept in the state dir.
func (m *Migrator) blobList() *transfer.List {
	if m.list == nil {
		m.list = transfer.NewList(m.sd.files(), m.sd.journal())
	}
	return m.list
}

// sizeLimits are the new PDS's size limits, as its describeServer said.
func (m *Migrator) sizeLimits() *transfer.Limits {
	l := &transfer.Limits{NewPDS: m.opts.NewPDS, SkipOversized: m.opts.SkipOversizedBlobs, Journal: m.sd.journal(), Progress: m.prog}
	if m.newInfo != nil {
		l.Upload = m.newInfo.BlobUploadLimit
	}
	return l
}

// blobCopy is the run's blob copy, made once the source and the new PDS
// are known.
func (m *Migrator) blobCopy() *transfer.Blobs {
	if m.blobs == nil {
		_, fromBackup := m.src.(*backup.Source)
		m.blobs = transfer.NewBlobs(transfer.Config{
			Dir: m.sd.files(), DiskDir: m.sd.diskDir(), DID: m.did, Source: m.src, New: m.new, NewPDS: m.opts.NewPDS,
			Concurrency: m.opts.Concurrency, DiskBudget: m.opts.DiskBudget, KeepData: m.opts.KeepData, FromBackup: fromBackup, Store: m.backupStore,
			Limits: m.sizeLimits(), Journal: m.sd.journal(), Progress: m.prog,
		}, m.blobList())
	}
	return m.blobs
}

// stopBlobs ends the blob copy's background downloads.
func (m *Migrator) stopBlobs() {
	if m.blobs != nil {
		m.blobs.Stop()
	}
}

// stillToDownload is how much the blob copy has still to download.
func (m *Migrator) stillToDownload() int64 {
	if m.blobs == nil {
		return 0
	}
	return m.blobs.StillToDownload()
}

package migrate

import (
	"context"
	"os"

	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// dataCopy is the copy of the account's data from the origin to the new
// PDS: the export's blob list, the blob copy, and the repo download
// started before the login.
type dataCopy struct {
	*env
	sd   *stateDir
	from *origin
	to   *destination

	list  *transfer.List  // the export's blob list
	blobs *transfer.Blobs // the blob copy
	early *transfer.Early // the repo download started before the login
}

// takeEarly takes the background export's result, if one was started
// (ok: it exported the repo).
func (c *dataCopy) takeEarly(ctx context.Context) (sum *repo.Summary, ok bool, err error) {
	sum, ok, err = c.early.Take(ctx)
	c.early = nil
	return sum, ok, err
}

// blobList is the export's blob list, kept in the state dir.
func (c *dataCopy) blobList() *transfer.List {
	if c.list == nil {
		c.list = transfer.NewList(c.sd.files(), c.sd.journal())
	}
	return c.list
}

// sizeLimits are the new PDS's size limits, as its describeServer said.
func (c *dataCopy) sizeLimits() *transfer.Limits {
	l := &transfer.Limits{NewPDS: c.opts.NewPDS, SkipOversized: c.opts.SkipOversizedBlobs, Journal: c.sd.journal(), Progress: c.prog}
	if c.to.info != nil {
		l.Upload = c.to.info.BlobUploadLimit
	}
	return l
}

// blobCopy is the run's blob copy, made once the source and the new PDS
// are known.
func (c *dataCopy) blobCopy() *transfer.Blobs {
	if c.blobs == nil {
		_, fromBackup := c.from.src.(*backup.Source)
		c.blobs = transfer.NewBlobs(transfer.Config{
			Dir: c.sd.files(), DiskDir: c.sd.diskDir(), DID: c.did, Source: c.from.src, New: c.to.pds, NewPDS: c.opts.NewPDS,
			Concurrency: c.opts.Concurrency, DiskBudget: c.opts.DiskBudget, KeepData: c.opts.KeepData, FromBackup: fromBackup, Store: c.from.store,
			Limits: c.sizeLimits(), Journal: c.sd.journal(), Progress: c.prog, Meter: c.sd.meter,
			HoldAhead: c.opts.DownloadAhead == AheadUploads,
		}, c.blobList())
	}
	return c.blobs
}

// stopBlobs ends the blob copy's background downloads.
func (c *dataCopy) stopBlobs() {
	if c.blobs != nil {
		c.blobs.Stop()
	}
}

// stillToDownload is how much the blob copy has still to download.
func (c *dataCopy) stillToDownload() int64 {
	if c.blobs == nil {
		return 0
	}
	return c.blobs.StillToDownload()
}

// startEarlyExport begins the background export when the export stage will
// need one: a PDS source, no verified copy on disk yet, and a DID that does
// not already point at the new PDS (pointsAtNew). verifyOptions are the
// checks the repo must pass.
func (c *dataCopy) startEarlyExport(ctx context.Context, pointsAtNew bool, verifyOptions func(partial bool) (repo.VerifyOptions, plc.SigningKeys, error)) {
	if c.early != nil || c.opts.FromBackup != "" || pointsAtNew {
		return
	}
	if c.sd.exported(c.sd.path("repo.car")) {
		return
	}
	carPath := c.sd.path("repo.car")
	vo, _, err := verifyOptions(false)
	if err != nil {
		return // the export stage reports it
	}
	if err := os.MkdirAll(c.sd.files(), 0o700); err != nil {
		return
	}
	src := &transfer.PDSSource{Client: c.srv.PDS(c.sd.st.OldPDS, nil), DID: c.did}
	c.early = transfer.StartEarly(ctx, src, c.prog, carPath, vo)
}

// stopEarlyExport abandons a background export nobody took.
func (c *dataCopy) stopEarlyExport() {
	c.early.Stop()
	c.early = nil
}

// The values of Options.DownloadAhead.
const (
	// AheadImport (the default, "" too) downloads ahead while the new PDS
	// creates the account and imports: the old PDS's idle time.
	AheadImport = "import"
	// AheadUploads starts the downloads ahead with the uploads, so the
	// import has the machine to itself: for a new PDS that shares this
	// machine's disk and CPUs.
	AheadUploads = "uploads"
)

// AheadModes are DownloadAhead's values, for flags and their errors.
var AheadModes = []string{AheadImport, AheadUploads}

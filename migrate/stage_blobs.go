package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// blobs copies every blob the new PDS lacks (transfer.Blobs.Copy): a
// blob that cannot be moved stops the migration before the identity stage.
func (c *copyStages) blobs(ctx context.Context) (string, error) {
	if c.identityDone {
		return "", skip("the DID already points at the new PDS")
	}
	blobs := c.data.blobCopy()
	var res transfer.Result
	effect := Effect{Stage: stage.Blobs, What: fmt.Sprintf("upload the blobs %s lacks (of %d, %s in all)", c.opts.NewPDS, len(c.data.blobList().Refs()), units.HumanBytes(c.sd.st.Blobs.TotalBytes))}
	if err := c.act.act(ctx, effect, func(ctx context.Context) (err error) {
		res, err = blobs.Copy(ctx)
		return err
	}); err != nil {
		return "", err
	}
	if res.Missing == 0 && c.sd.st.Done(stage.Blobs) {
		// A resumed run: keep the note of the run that uploaded them.
		return "", skip("all %d blobs on the new PDS", len(c.data.blobList().Refs()))
	}
	return blobs.Note(res), nil
}

package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/workers"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
)

// What proves a blob is on the new PDS. listMissingBlobs being empty is
// necessary but is the server's own bookkeeping, and so are
// checkAccountStatus's counts (another implementation reports
// importedBlobs: 0 whatever it holds): those are shown, never trusted. A
// blob is confirmed when the new PDS answered our upload with its CID (it
// hashed the bytes it kept), or when it was fetched back from the new PDS
// and hashed here. Confirmations are kept in the state, so a resumed run
// fetches back only what no earlier run saw confirmed.

// confirmations is the set of blobs the new PDS is known to hold, loaded
// from the state and recorded there as it grows.
type confirmations struct {
	j *checkpoint.Journal
	// fetch gets a blob back from the new PDS (fetchBack); workers is
	// how many at once.
	fetch   func(ctx context.Context, cid string, fn func(io.Reader, int64, string) error) error
	workers int
	prog    ui.Progress

	mu  sync.Mutex
	set map[string]bool // nil until first used
}

// add records that the new PDS holds cid.
func (c *confirmations) add(cid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadLocked()
	if !c.set[cid] {
		c.set[cid] = true
		c.j.Update(func(st *checkpoint.State) { st.Blobs.Confirmed = append(st.Blobs.Confirmed, cid) })
	}
}

func (c *confirmations) has(cid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadLocked()
	return c.set[cid]
}

func (c *confirmations) loadLocked() {
	if c.set != nil {
		return
	}
	c.j.Update(func(st *checkpoint.State) {
		c.set = make(map[string]bool, len(st.Blobs.Confirmed))
		for _, cid := range st.Blobs.Confirmed {
			c.set[cid] = true
		}
	})
}

// unconfirmed is the blobs of refs that the new PDS does not list as
// missing but that nothing has confirmed yet.
func (c *confirmations) unconfirmed(refs []repo.BlobRef, missing []pds.MissingBlob) []repo.BlobRef {
	skip := map[string]bool{}
	for _, b := range missing {
		skip[b.CID] = true
	}
	var out []repo.BlobRef
	for _, b := range refs {
		if !skip[b.CID] && !c.has(b.CID) {
			out = append(out, b)
		}
	}
	return out
}

// fetchBack fetches each blob from the new PDS and hashes it, confirming
// those that match. It returns the ones that could not be confirmed, with
// why; an error is for what stops it altogether (a cancelled run).
func (c *confirmations) fetchBack(ctx context.Context, refs []repo.BlobRef) (map[string]error, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	c.prog.Info(fmt.Sprintf("fetching back %d blob(s) from the new PDS that no earlier run saw it confirm", len(refs)))
	var mu sync.Mutex
	bad := map[string]error{}
	workers.Each(ctx, refs, c.workers, func(ref repo.BlobRef) {
		err := c.fetch(ctx, ref.CID, func(body io.Reader, _ int64, _ string) error {
			_, err := repo.CheckCID(ref.CID, body)
			if errors.Is(err, repo.ErrBlobMismatch) {
				return fmt.Errorf("%w: %v", pds.ErrCorruptBody, err)
			}
			return err
		})
		if err == nil {
			c.add(ref.CID)
			return
		}
		mu.Lock()
		bad[ref.CID] = err
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return bad, nil
}

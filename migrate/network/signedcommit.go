package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// A PDS that imports a repo may keep the imported commit, which the old
// PDS's key signed (the reference PDS does). Once the DID names the new
// PDS's key, every consumer that checks the repo against the DID document
// (a relay, an AppView) refuses that commit, and the new PDS's #sync at
// activation with it, until the PDS signs a commit of its own: the user's
// first post, or the commit made here, which changes no record.

// ScratchCollection is the collection of the record made and deleted at
// once when a PDS refuses a commit with no write: a collection of this
// tool's own, which no app indexes. Nothing is left in it.
const ScratchCollection = "dev.atmigrate.signedcommit"

// scratchRKey is the record's key: fixed, so that a run killed between
// the create and the delete finds the record and deletes it.
const scratchRKey = "self"

// Latest is a repo's latest commit on a PDS, and whether the DID's
// current signing key signed it.
type Latest struct {
	CID  string `json:"cid"`
	Rev  string `json:"rev"`
	Data string `json:"data"` // the MST root: the same data, the same records
	// Signed is true when the key the DID document names verifies it.
	Signed bool `json:"signed"`
	// Leftover is true when the scratch record of a run killed midway is
	// still in the repo.
	Leftover bool `json:"leftover,omitempty"`
}

// Done reports whether nothing is left to do: the DID's key signed the
// latest commit and no scratch record is left.
func (l *Latest) Done() bool { return l.Signed && !l.Leftover }

// ReadLatest reads did's latest commit on the PDS behind c and checks its
// signature against key, the signing key the DID document names. With
// leftoverPossible it also looks for the scratch record of a killed run
// (Latest.Leftover); without, for an account this very run created, that
// record cannot be there and the request is saved.
func ReadLatest(ctx context.Context, c *pds.Client, did string, key atcrypto.PublicKey, leftoverPossible bool) (*Latest, error) {
	cid, rev, err := c.GetLatestCommit(ctx, did)
	if err != nil {
		return nil, fmt.Errorf("read the latest commit: %w", err)
	}
	l, err := readCommit(ctx, c, did, cid, rev, key)
	if err != nil || !leftoverPossible {
		return l, err
	}
	if l.Leftover, err = HasLeftover(ctx, c, did); err != nil {
		return nil, err
	}
	return l, nil
}

// readCommit reads commit cid (at rev) of did's repo and checks its
// signature against key.
func readCommit(ctx context.Context, c *pds.Client, did, cid, rev string, key atcrypto.PublicKey) (*Latest, error) {
	car, err := c.GetBlocks(ctx, did, cid)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", cid, err)
	}
	commit, err := repo.CommitFromCAR(ctx, car, cid)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", cid, err)
	}
	return LatestOf(cid, rev, commit, key), nil
}

// LatestOf is commit (cid, at rev) as a Latest, its signature checked
// against key; Leftover is not looked for (see HasLeftover).
func LatestOf(cid, rev string, commit *repo.Commit, key atcrypto.PublicKey) *Latest {
	return &Latest{CID: cid, Rev: rev, Data: commit.Data, Signed: commit.VerifySignature(key) == nil}
}

// HasLeftover reports whether the scratch record of a run killed between
// its create and its delete is still in did's repo on the PDS behind c.
func HasLeftover(ctx context.Context, c *pds.Client, did string) (bool, error) {
	_, found, err := c.GetRecord(ctx, did, ScratchCollection, scratchRKey)
	if err != nil {
		return false, fmt.Errorf("look for a record left in %s: %w", ScratchCollection, err)
	}
	return found, nil
}

// SignCommit has the PDS behind c (logged in as did) sign a commit that
// changes no record, from before (ReadLatest's answer): a commit with no
// write, or, where the PDS refuses one, a record created in
// ScratchCollection and deleted in the next commit. A scratch record left
// by a killed run is deleted. It returns the repo's latest commit after,
// checked to be signed by key and to hold before's data.
func SignCommit(ctx context.Context, c *pds.Client, did string, key atcrypto.PublicKey, before *Latest) (*Latest, error) {
	var ours *pds.Commit // the last commit made here, when the data must be before's
	var err error
	if before.Leftover {
		// The create was made by a killed run: the delete takes the
		// record out again (the data before the create is not known here).
		_, err = c.ApplyWrites(ctx, []pds.Write{{Type: pds.WriteDelete, Collection: ScratchCollection, RKey: scratchRKey}}, "")
	} else {
		ours, err = c.ApplyWrites(ctx, nil, before.CID)
		if err != nil && pds.ErrorName(err) != "InvalidSwap" && refused(err) {
			ours, err = createAndDelete(ctx, c, before.CID)
		}
	}
	// InvalidSwap: another commit came first (the user wrote). Whatever
	// happened, the repo's latest commit says whether the work is done.
	if err != nil && pds.ErrorName(err) != "InvalidSwap" {
		return nil, err
	}
	// The commit made here is read back by its CID: a commit that came
	// after it is the PDS's too. Without one (another commit came first,
	// or a leftover was deleted), the latest commit is read.
	if ours != nil && ours.CID == "" {
		ours = nil // a server that names no commit: read the latest
	}
	var after *Latest
	if ours != nil {
		after, err = readCommit(ctx, c, did, ours.CID, ours.Rev, key)
	} else {
		after, err = ReadLatest(ctx, c, did, key, false)
	}
	if err != nil {
		return nil, err
	}
	if ours != nil && after.Data != before.Data {
		return nil, fmt.Errorf("the commit made to be signed by the new PDS (%s) holds data %s, not the repo's %s: the records changed", after.CID, after.Data, before.Data)
	}
	if !after.Signed {
		return after, fmt.Errorf("the PDS's latest commit %s (rev %s) is not signed by the DID's key %s either", after.CID, after.Rev, key.DIDKey())
	}
	return after, nil
}

// createAndDelete makes two commits: a scratch record created, then
// deleted, which leaves the MST as it was.
func createAndDelete(ctx context.Context, c *pds.Client, swap string) (*pds.Commit, error) {
	value := map[string]any{
		"$type":     ScratchCollection,
		"createdAt": time.Now().UTC().Format(time.RFC3339),
		"note":      "made and deleted at once by atmigrate so that the new PDS signs a commit of its own",
	}
	created, err := c.ApplyWrites(ctx, []pds.Write{{Type: pds.WriteCreate, Collection: ScratchCollection, RKey: scratchRKey, Value: value}}, swap)
	if err != nil {
		return nil, fmt.Errorf("create a record in %s: %w", ScratchCollection, err)
	}
	swap = ""
	if created != nil {
		swap = created.CID
	}
	deleted, err := c.ApplyWrites(ctx, []pds.Write{{Type: pds.WriteDelete, Collection: ScratchCollection, RKey: scratchRKey}}, swap)
	if err != nil {
		return nil, fmt.Errorf("delete the record made in %s (the same command run again deletes it): %w", ScratchCollection, err)
	}
	return deleted, nil
}

// refused reports whether err is the server saying no to the request
// itself (a 4xx), as opposed to a failure to reach it.
func refused(err error) bool {
	var apiErr *pds.APIError
	return errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500
}

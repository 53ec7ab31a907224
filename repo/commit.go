package repo

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
)

// Commit is a repo commit read from a server's blocks: what tells whether
// two repos hold the same data whoever signed them. Two commits with the
// same Data (the MST root) hold the same records with the same CIDs.
type Commit struct {
	CID  string
	DID  string
	Rev  string
	Data string // the MST root CID

	raw []byte
}

// CommitFromCAR finds the commit block want in a CAR (a sync.getBlocks
// answer, which may name no root), checks its hash and structure, and
// decodes it.
func CommitFromCAR(ctx context.Context, car []byte, want string) (*Commit, error) {
	wantCID, err := cid.Decode(want)
	if err != nil {
		return nil, fmt.Errorf("commit CID %q: %w", want, err)
	}
	it, err := openBlocks(bytes.NewReader(car), len(car))
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, data, err := it.next()
		if err == io.EOF {
			return nil, verifyErr(nil, fmt.Sprintf("commit block %s is not in the answer", want))
		}
		if err != nil {
			return nil, err
		}
		if !c.Equals(wantCID) {
			continue
		}
		ic, err := decodeCommit(c, data)
		if err != nil {
			return nil, err
		}
		if err := ic.VerifyStructure(); err != nil {
			return nil, verifyErr(err, fmt.Sprintf("commit %s is malformed", want))
		}
		return &Commit{CID: want, DID: ic.DID, Rev: ic.Rev, Data: ic.Data.String(), raw: append([]byte(nil), data...)}, nil
	}
}

// VerifySignature checks the commit's signature against key.
func (c *Commit) VerifySignature(key atcrypto.PublicKey) error {
	ic, err := decodeCommit(cid.Undef, c.raw)
	if err != nil {
		return err
	}
	if err := ic.VerifySignature(key); err != nil {
		return verifyErr(err, fmt.Sprintf("commit %s is not signed by %s", c.CID, key.DIDKey()))
	}
	return nil
}

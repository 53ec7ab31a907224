package pds

import (
	"context"
	"net/url"
)

// Commit names one commit: its CID and rev.
type Commit struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

// Write is one entry of com.atproto.repo.applyWrites.
type Write struct {
	Type       string `json:"$type"`
	Collection string `json:"collection"`
	RKey       string `json:"rkey,omitempty"`
	Value      any    `json:"value,omitempty"`
}

// The applyWrites entry types.
const (
	WriteCreate = "com.atproto.repo.applyWrites#create"
	WriteDelete = "com.atproto.repo.applyWrites#delete"
)

// ApplyWrites applies writes to the session account's repo in one commit,
// which the PDS signs with its key for the account, and returns it.
// swapCommit (may be "") makes the PDS refuse (InvalidSwap) unless the
// repo's latest commit is still that one. The reference PDS accepts an
// empty list and makes a commit that changes no record.
func (c *Client) ApplyWrites(ctx context.Context, writes []Write, swapCommit string) (*Commit, error) {
	in := struct {
		Repo       string  `json:"repo"`
		Validate   *bool   `json:"validate,omitempty"`
		Writes     []Write `json:"writes"`
		SwapCommit string  `json:"swapCommit,omitempty"`
	}{Repo: c.DID(), Writes: writes, SwapCommit: swapCommit}
	if in.Writes == nil {
		in.Writes = []Write{}
	}
	// A record of the tool's own collection has no lexicon the server
	// knows: validation off, so it is stored as given.
	off := false
	for _, w := range writes {
		if w.Type == WriteCreate {
			in.Validate = &off
		}
	}
	var out struct {
		Commit *Commit `json:"commit"`
	}
	// Not retried blindly: with swapCommit a repeat is refused rather
	// than applied twice, and the caller re-reads the repo to decide.
	if err := c.procedure(ctx, "com.atproto.repo.applyWrites", in, &out, true); err != nil {
		return nil, err
	}
	if out.Commit == nil {
		return nil, nil
	}
	return out.Commit, nil
}

// GetRecord reports whether the record collection/rkey exists in did's
// repo, and its CID. A missing record is not an error.
func (c *Client) GetRecord(ctx context.Context, did, collection, rkey string) (cid string, found bool, err error) {
	var out struct {
		CID string `json:"cid"`
	}
	q := url.Values{"repo": {did}, "collection": {collection}, "rkey": {rkey}}
	if err := c.query(ctx, "com.atproto.repo.getRecord", q, &out); err != nil {
		if ErrorName(err) == "RecordNotFound" {
			return "", false, nil
		}
		return "", false, err
	}
	return out.CID, true, nil
}

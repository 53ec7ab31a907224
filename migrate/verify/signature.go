package verify

import (
	"context"

	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// checkSignedCommit checks that the new PDS's latest commit is signed by
// the signing key the DID names now: what relays and AppViews check the
// repo against. A commit signed by an earlier key of the DID (the commit
// the new PDS imported, as the reference PDS keeps it) loses no data but
// is refused by them until the new PDS signs one of its own: a warning.
// A scratch record left by a run killed while signing is a warning too.
func checkSignedCommit(ctx context.Context, o Options, st *plc.State, r *Report) {
	const name = "commit-signature"
	if servers.NormalURL(st.Endpoint()) != servers.NormalURL(o.NewPDS) {
		r.skip(name, "the DID does not point at the new PDS yet")
		return
	}
	keys := st.SigningKeyHistory()
	pubs, err := keys.PublicKeys()
	if err != nil {
		r.add(name, false, "%v", err)
		return
	}
	// The latest commit and its block are the records check's too: read
	// once (newReads).
	cid, rev, err := o.newLatest(ctx)
	if err != nil {
		r.skip(name, "cannot read the new repo's latest commit: %v", err)
		return
	}
	commit, err := o.newCommit(ctx, cid)
	if err != nil {
		r.skip(name, "cannot read the new repo's latest commit %s: %v", cid, err)
		return
	}
	latest := network.LatestOf(cid, rev, commit, pubs[0])
	if latest.Leftover, err = network.HasLeftover(ctx, o.New, o.DID); err != nil {
		r.skip(name, "%v", err)
		return
	}
	fix := "relays and apps refuse the repo until the new PDS signs a commit of its own; run the same `atmigrate migrate` command again (it has the new PDS sign one, changing no record), or post anything from the new account"
	switch {
	case latest.Signed && latest.Leftover:
		r.warn(name, "run the same `atmigrate migrate` command again: it deletes the record, which no app shows",
			"rev %s is signed by the DID's key %s, but the record %s/self that a stopped run made is still there", latest.Rev, keys[0].DIDKey, network.ScratchCollection)
	case latest.Signed:
		r.add(name, true, "the latest commit, rev %s, is signed by the DID's key %s", latest.Rev, keys[0].DIDKey)
	default:
		if k := signedByEarlier(ctx, o, latest.CID, pubs); k != "" {
			r.warn(name, fix, "the latest commit, rev %s, is signed by the DID's earlier key %s, not its key now, %s", latest.Rev, k, keys[0].DIDKey)
			return
		}
		r.add(name, false, "the latest commit, rev %s, is signed by none of the keys the DID has named", latest.Rev)
	}
}

// signedByEarlier is the earlier key of the DID that signed commit cid,
// or "".
func signedByEarlier(ctx context.Context, o Options, cid string, pubs []atcrypto.PublicKey) string {
	commit, err := o.newCommit(ctx, cid)
	if err != nil {
		return ""
	}
	for _, k := range pubs[1:] {
		if commit.VerifySignature(k) == nil {
			return k.DIDKey()
		}
	}
	return ""
}

package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/verify"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// destination is the new PDS, as it described itself.
type destination struct {
	pds  *pds.Client
	info *pds.ServerInfo
	key  atcrypto.PublicKey // the key the new PDS signs the account's commits with
}

// Whether the new PDS holds the exported repo is decided from what the
// protocol guarantees, not from one implementation's bookkeeping: its
// latest commit is the exported one (the reference PDS keeps the imported
// commit), or it is a commit over the same MST root (commit.data, read
// with getLatestCommit and sync.getBlocks) with a valid signature by the
// key the new PDS holds for the account. Another implementation may
// re-sign what it imports (cocoon does): the commit's CID and rev change,
// the data does not. The same test skips the import on a re-run, gates
// the identity stage and checks each catch-up.

// repoHeld is the answer, with what it rests on.
type repoHeld struct {
	Held bool
	// Commit is the new PDS's latest commit; Resigned is true when it is
	// not the exported one but holds the same data, signed by the new PDS.
	Commit   string
	Resigned bool
	// Why says what differs when Held is false; BadSignature is set when
	// the data is there but signed by another key than the new PDS names
	// for the account, which importing again does not change.
	Why          string
	BadSignature bool
}

func (h repoHeld) String() string {
	switch {
	case !h.Held:
		return h.Why
	case h.Resigned:
		return fmt.Sprintf("commit %s: the exported data, re-signed by the new PDS", h.Commit)
	}
	return "commit " + h.Commit
}

// holdsRepo asks the new PDS whether it holds the data of the exported
// commit want. Errors are only for a cancelled run; a server that does not
// answer does not hold it, as far as this run can tell.
func (t *destination) holdsRepo(ctx context.Context, did string, want checkpoint.RepoInfo) (repoHeld, error) {
	cid, _, err := t.pds.GetLatestCommit(ctx, did)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return repoHeld{}, cerr
		}
		return repoHeld{Why: fmt.Sprintf("the new PDS did not say which commit it holds (%v)", err)}, nil
	}
	h := repoHeld{Commit: cid}
	if cid == want.Commit {
		h.Held = true
		return h, nil
	}
	if want.Data == "" {
		h.Why = fmt.Sprintf("the new PDS holds commit %s, the exported repo is %s", cid, want.Commit)
		return h, nil
	}
	c, err := verify.FetchCommit(ctx, t.pds, did, cid)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return repoHeld{}, cerr
		}
		h.Why = fmt.Sprintf("the new PDS holds commit %s, not the exported %s, and did not serve it as a valid commit (%v)", cid, want.Commit, err)
		return h, nil
	}
	if c.Data != want.Data {
		h.Why = fmt.Sprintf("the new PDS holds commit %s over data %s; the exported repo's data is %s", cid, c.Data, want.Data)
		return h, nil
	}
	key, err := t.signingKey(ctx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return repoHeld{}, cerr
		}
		h.Why = fmt.Sprintf("the new PDS's commit %s holds the exported data, but its signing key is not known: %v", cid, err)
		return h, nil
	}
	if err := c.VerifySignature(key); err != nil {
		h.Why = fmt.Sprintf("the new PDS's commit %s holds the exported data but is not signed by the key it holds for the account (%s)", cid, key.DIDKey())
		h.BadSignature = true
		return h, nil
	}
	h.Held, h.Resigned = true, true
	return h, nil
}

// signingKey is the key the new PDS signs the account's commits with:
// the atproto key it recommends for the DID document.
func (t *destination) signingKey(ctx context.Context) (atcrypto.PublicKey, error) {
	if t.key != nil {
		return t.key, nil
	}
	cred, err := t.pds.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return nil, err
	}
	dk := cred.VerificationMethods["atproto"]
	if dk == "" {
		return nil, errors.New("the new PDS recommends no atproto signing key")
	}
	k, err := atcrypto.ParsePublicDIDKey(dk)
	if err != nil {
		return nil, fmt.Errorf("parse the new PDS's signing key %s: %w", dk, err)
	}
	t.key = k
	return k, nil
}

// counts is what the new PDS's checkAccountStatus says, for people:
// the counts are another implementation's bookkeeping and decide nothing.
func (t *destination) counts(ctx context.Context) string {
	st, err := t.pds.CheckAccountStatus(ctx)
	if err != nil {
		return "the new PDS did not report its counts"
	}
	return fmt.Sprintf("the new PDS counts %d records and %d/%d blobs", st.IndexedRecords, st.ImportedBlobs, st.ExpectedBlobs)
}

// accountActive reads whether the new account is active: getRepoStatus,
// public and the same on every PDS, or, when its answer says nothing
// (another implementation's 500), the account's own checkAccountStatus.
func (t *destination) accountActive(ctx context.Context, did string) (active bool, status string, err error) {
	rs, err := t.pds.GetRepoStatus(ctx, did)
	if err == nil {
		return rs.Active, rs.Status, nil
	}
	as, serr := t.pds.CheckAccountStatus(ctx)
	if serr != nil {
		return false, "", err
	}
	return as.Activated, "", nil
}

package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// signCommit gives the repo on the new PDS a commit signed by the key the
// DID now names, over the same records: the imported commit is signed by
// the old PDS's key, which relays and AppViews refuse once the DID names
// another (network.SignCommit says how). A repo whose latest commit the
// DID's key already signs (a PDS that re-signs on import, or a run that
// got this far) is left alone.
func (a *newAccount) signCommit(ctx context.Context) (string, error) {
	key, err := a.didSigningKey(ctx)
	if err != nil {
		return "", err
	}
	// Public reads: a complete migration re-checked needs no login
	// unless there is something to sign. An account this process created
	// holds no scratch record of an earlier run.
	before, err := network.ReadLatest(ctx, a.to.pds, a.did, key, !a.createdNow)
	if err != nil {
		return "", fmt.Errorf("read the repo on %s: %w", a.opts.NewPDS, err)
	}
	if before.Done() {
		return "", skip("the latest commit (rev %s) is signed by the DID's key %s", before.Rev, key.DIDKey())
	}
	if err := a.loginNew(ctx); err != nil {
		return "", err
	}
	effect := Effect{Stage: stage.SignCommit, What: fmt.Sprintf("have %s sign a commit of its own over the same records (the imported commit, rev %s, is signed by another key)", a.opts.NewPDS, before.Rev)}
	var after *network.Latest
	err = a.act.act(ctx, effect, func(ctx context.Context) error {
		var err error
		after, err = network.SignCommit(ctx, a.to.pds, a.did, key, before)
		return err
	})
	if errors.Is(err, errRecorded) {
		return "", err
	}
	if err != nil {
		return "", &failure.StageError{Stage: stage.SignCommit, Err: fmt.Errorf("have %s sign a commit of the account: %w", a.opts.NewPDS, err),
			Hint: "the account works on the new PDS, but relays and apps refuse its repo until the new PDS signs a commit; run the same command again, or post anything from the new PDS"}
	}
	crashpoint.At("commit-signed")
	return fmt.Sprintf("commit rev %s signed by %s, over the same records (data %s)", after.Rev, key.DIDKey(), after.Data), nil
}

// didSigningKey is the signing key the DID's document names now: as the
// identity stage saw it once the DID pointed at the new PDS, moments ago
// in this run, or else read afresh. (The final check and the guard before
// deactivation read the document afresh either way.)
func (a *newAccount) didSigningKey(ctx context.Context) (atcrypto.PublicKey, error) {
	st := a.plcState
	if !a.identityDone || st == nil || !servers.SameURL(st.Endpoint(), newEndpoint(a.sd.st, a.opts.NewPDS)) {
		var err error
		if st, err = a.ids.State(ctx, a.did); err != nil {
			return nil, fmt.Errorf("read the DID's current document: %w", err)
		}
	}
	key, err := atcrypto.ParsePublicDIDKey(st.SigningKey())
	if err != nil {
		return nil, fmt.Errorf("the DID's document names the signing key %q: %w", st.SigningKey(), err)
	}
	return key, nil
}

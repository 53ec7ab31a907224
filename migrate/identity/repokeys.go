package identity

import (
	"fmt"

	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// RepoKeys is what a repo commit of a DID is checked against, newest
// first: the DID's signing-key history in st (a repo the PDS has not
// written to since the key changed, such as the new PDS's right after a
// migration or an old, deactivated account, is still signed by an earlier
// key); for a restore, the key that signed the backup (backupKey, which
// backup.Verify found; nil otherwise), since the DID's current key is by
// then the restore's temporary one.
func RepoKeys(backupKey atcrypto.PublicKey, st *plc.State) plc.SigningKeys {
	if backupKey != nil {
		return plc.SigningKeys{{DIDKey: backupKey.DIDKey()}}
	}
	return st.SigningKeyHistory()
}

// RepoVerifyOptions checks a repo of did (partial: a `since` diff) against
// keys, which it also returns for EarlierKeyNote.
func RepoVerifyOptions(did string, keys plc.SigningKeys, partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
	pubs, err := keys.PublicKeys()
	if err != nil {
		return repo.VerifyOptions{}, nil, err
	}
	return repo.VerifyOptions{DID: did, Keys: pubs, Partial: partial}, keys, nil
}

// EarlierKeyNote says which earlier key of keys signed the commit sum
// describes, and why that is fine; "" when the current key signed it.
func EarlierKeyNote(keys plc.SigningKeys, sum *repo.Summary, server string) string {
	k, ok := keys.Earlier(sum.SignedBy)
	if !ok {
		return ""
	}
	return fmt.Sprintf("the commit is signed by the DID's earlier key %s (its signing key until %s): %s has not written a new commit since the key changed",
		k.DIDKey, k.Until.UTC().Format("2006-01-02 15:04 UTC"), server)
}

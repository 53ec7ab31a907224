package migrate

import (
	"fmt"

	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// repoKeys is what a repo commit of this DID is checked against, newest
// first: the DID's signing-key history (a repo the PDS has not written to
// since the key changed, such as the new PDS's right after a migration or
// an old, deactivated account, is still signed by an earlier key); for a
// restore, the key that signed the backup, which VerifyBackup found (the
// DID's current key is by then the restore's temporary one).
func (m *Migrator) repoKeys() plc.SigningKeys {
	if k, ok := m.backupSigningKey(); ok {
		return plc.SigningKeys{{DIDKey: k.DIDKey()}}
	}
	return m.plcState.SigningKeyHistory()
}

// repoVerifyOptions checks a repo of this DID (partial: a `since` diff)
// against repoKeys, which it also returns for earlierKeyNote.
func (m *Migrator) repoVerifyOptions(partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
	return verifyOptionsFor(m.did, m.repoKeys(), partial)
}

// verifyOptionsFor checks a repo of did against keys.
func verifyOptionsFor(did string, keys plc.SigningKeys, partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
	pubs, err := keys.PublicKeys()
	if err != nil {
		return repo.VerifyOptions{}, nil, err
	}
	return repo.VerifyOptions{DID: did, Keys: pubs, Partial: partial}, keys, nil
}

// earlierKeyNote says which earlier key of keys signed the commit sum
// describes, and why that is fine; "" when the current key signed it.
func earlierKeyNote(keys plc.SigningKeys, sum *repo.Summary, server string) string {
	k, ok := keys.Earlier(sum.SignedBy)
	if !ok {
		return ""
	}
	return fmt.Sprintf("the commit is signed by the DID's earlier key %s (its signing key until %s): %s has not written a new commit since the key changed",
		k.DIDKey, k.Until.UTC().Format("2006-01-02 15:04 UTC"), server)
}

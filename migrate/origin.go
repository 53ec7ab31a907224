package migrate

import (
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// origin is where the account's data comes from: the old PDS and the
// session on it, or, for a restore, the backup.
type origin struct {
	pds  *pds.Client
	sess *pds.Session
	src  transfer.Source
	// store is the blob store of the backup a restore reads.
	store *repo.BlobStore
}

// newEmail is the new account's email: the one given, else the old
// account's.
func (o *origin) newEmail(given string) string {
	if given != "" {
		return given
	}
	if o.sess != nil {
		return o.sess.Email
	}
	return ""
}

// backupSigningKey is the key a backup's repo was signed with, when the
// migration restores from a backup (the DID's current key is by then the
// temporary one).
func (o *origin) backupSigningKey() (atcrypto.PublicKey, bool) {
	if s, ok := o.src.(*backup.Source); ok {
		return s.Key(), true
	}
	return nil, false
}

// repoVerifyOptions checks a repo of did (partial: a `since` diff)
// against identity.RepoKeys of its state st (the backup's key in a
// restore), which it also returns for identity.EarlierKeyNote.
func (o *origin) repoVerifyOptions(did string, st *plc.State, partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
	k, _ := o.backupSigningKey()
	return identity.RepoVerifyOptions(did, identity.RepoKeys(k, st), partial)
}

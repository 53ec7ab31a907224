package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// tempKeyFile holds the temporary signing key of a restore (0600, state dir).
const tempKeyFile = "temp-signing-key"

// openBackupSource verifies the backup completely (before anything is
// written anywhere), says how old it is and what it lacks, and makes it
// the migration's source. The old PDS is never contacted.
func (m *Migrator) openBackupSource(ctx context.Context) (string, error) {
	o := &m.opts
	dir := o.FromBackup
	if o.RotationKey == nil {
		return "", failure.Input(nil, "pass {rotation-key} with your own PLC rotation key (one listed in the DID's rotationKeys)",
			"restoring from a backup needs your rotation key: without the old PDS only it can change the DID")
	}
	rep, err := backup.Verify(ctx, dir)
	if err != nil {
		var be *backup.Error
		if errors.As(err, &be) {
			return "", failure.Input(err, "use another backup, or run `atmigrate export` again while the old PDS still answers; nothing was written anywhere", "the backup was refused")
		}
		return "", err
	}
	man := rep.Manifest
	if man.DID != m.did {
		return "", failure.Input(nil, "pass the backup of this account, or the account this backup is of", "the backup in %s is of %s, not %s", dir, man.DID, m.did)
	}
	m.prog.Info(fmt.Sprintf("backup %s: taken %s (%s) from %s; %d records, rev %s, %d blobs (%.1f MB), all verified",
		dir, man.Created.Local().Format(time.RFC3339), rep.Ago(time.Now()), man.PDS, rep.Summary.Records, man.Repo.Rev, len(rep.Summary.Blobs), units.MB(man.Blobs.Bytes)))
	if note := identity.EarlierKeyNote(rep.Keys, rep.Summary, man.PDS); note != "" {
		m.prog.Info("backup: " + note)
	}
	for _, l := range rep.Lacks {
		m.prog.Warn("the backup does not contain " + l)
	}
	if rep.Age(time.Now()) > 24*time.Hour {
		m.prog.Warn(fmt.Sprintf("the backup is %s old: anything written after it is not in it", rep.Ago(time.Now())))
	}
	if !m.identityDone && m.plcState != nil && !rep.InLog(m.plcState) {
		m.prog.Warn("the DID's audit log does not start with the backup's plc-log.json: the identity changed in a way the backup does not know")
	}
	m.from.src = backup.NewSource(rep)
	store, err := repo.OpenBlobStore(filepath.Join(dir, backup.BlobDir))
	if err != nil {
		return "", err
	}
	m.from.store = store // the backup's blobs are uploaded from where they are
	if err := m.data.blobList().Set(rep.Summary.Blobs); err != nil {
		return "", err
	}
	if len(m.sd.st.OldPDSRotationKeys) == 0 {
		m.sd.st.OldPDSRotationKeys = man.OldPDSRotationKeys
	}
	if o.NewEmail == "" {
		o.NewEmail = man.Email
	}
	if m.sd.st.Handle == "" || m.sd.st.Handle == "handle.invalid" {
		m.sd.st.Handle = man.Handle
	}
	if err := m.sd.save(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s) from backup %s (%s), old PDS %s not contacted", m.sd.st.Handle, m.did, dir, rep.Ago(time.Now()), m.sd.st.OldPDS), nil
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

// installTempSigningKey makes the DID's atproto key one this run holds, so
// it can sign the new PDS's createAccount service auth while the old PDS is
// gone: a fresh K-256 key (0600 in the state dir), put in the DID document
// by an operation signed with the user's rotation key and posted straight
// to the PLC directory. It happens once: the operation's CID is recorded
// before the submission, and a re-run checks the directory first.
func (m *Migrator) installTempSigningKey(ctx context.Context) error {
	key, err := m.tempKey(true)
	if err != nil {
		return err
	}
	didKey, err := plc.DIDKey(key)
	if err != nil {
		return err
	}
	st, err := m.ids.PLC.State(ctx, m.did)
	if err != nil {
		return fmt.Errorf("read the DID's PLC audit log: %w", err)
	}
	m.plcState = st
	if st.SigningKey() == didKey {
		return nil // done by an earlier run
	}
	if cid := m.sd.st.PLC.TempSigningKeyOpCID; cid != "" {
		ok, err := m.ids.PLC.Applied(ctx, m.did, cid)
		if err != nil {
			return fmt.Errorf("check whether the temporary-key operation %s went through: %w", cid, err)
		}
		if ok {
			return &failure.StageError{Stage: stage.CreateAccount, Err: fmt.Errorf("the temporary-key operation %s is in the audit log, but the DID's signing key is now %s", cid, st.SigningKey()),
				Hint: "someone changed the DID since; check `atmigrate plc log` before going on"}
		}
	}
	want, err := plc.BuildSigningKeyUpdate(st, didKey)
	if err != nil {
		return err
	}
	op := *want
	if err := plc.Sign(&op, m.opts.RotationKey); err != nil {
		return fmt.Errorf("sign the temporary-key operation: %w", err)
	}
	details := "The old PDS is not used. To let the new PDS accept the account, the DID's signing key is\n" +
		"replaced by a temporary key held in " + m.sd.path(tempKeyFile) + " (a second operation then points the DID at\n" +
		"the new PDS). From now on the old PDS's copy of the repo no longer verifies.\n" + plc.DiffDoc(&st.Op, &op)
	// The new PDS's createAccount checks the service auth against the
	// DID's key: Submit waits until the directory shows the temporary key.
	shown, err := m.submitter().Submit(ctx, identity.Submission{
		DID: m.did, State: st, Op: &op, Want: want, Check: identity.OpChecks(2),
		Ask: ui.Confirmation{Question: "Change " + m.did + "'s signing key to a temporary key?", Details: details,
			What: "the PLC operation", IfNo: "run again when ready"},
		Record: func(cid string) error { m.sd.st.PLC.TempSigningKeyOpCID = cid; return m.sd.save() },
		Crash:  "backup-tempkey", Stage: stage.CreateAccount,
	})
	if err != nil {
		return err
	}
	m.plcState = shown
	m.prog.Info(fmt.Sprintf("the DID's signing key is now a temporary key (op %s)", m.sd.st.PLC.TempSigningKeyOpCID))
	return nil
}

// tempKey loads the restore's temporary key, creating it when create is
// set and there is none.
func (m *Migrator) tempKey(create bool) (atcrypto.PrivateKey, error) {
	p := m.sd.path(tempKeyFile)
	k, err := plc.LoadPrivateKeyFile(p, "k256")
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("read the temporary signing key: %w", err)
	}
	nk, err := plc.GenerateK256()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.sd.dir, 0o700); err != nil {
		return nil, err
	}
	if err := plc.WriteKeyFile(p, nk); err != nil {
		return nil, err
	}
	return nk, nil
}

// localServiceAuth signs the createAccount service-auth token with the
// temporary key that installTempSigningKey put in the DID document.
func (m *Migrator) localServiceAuth() (string, error) {
	key, err := m.tempKey(false)
	if err != nil {
		return "", err
	}
	if m.to.info == nil || m.to.info.DID == "" {
		return "", fmt.Errorf("the new PDS's DID is unknown")
	}
	tok, err := plc.ServiceAuthToken(m.did, m.to.info.DID, "com.atproto.server.createAccount", serviceAuthTTL, key)
	if err != nil {
		return "", err
	}
	return tok, nil
}

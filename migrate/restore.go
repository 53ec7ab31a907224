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

// openBackup verifies the backup completely (before anything is
// written anywhere), says how old it is and what it lacks, and makes it
// the migration's source. The old PDS is never contacted.
func (lg *login) openBackup(ctx context.Context) (string, error) {
	o := &lg.opts
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
	if man.DID != lg.did {
		return "", failure.Input(nil, "pass the backup of this account, or the account this backup is of", "the backup in %s is of %s, not %s", dir, man.DID, lg.did)
	}
	lg.prog.Info(fmt.Sprintf("backup %s: taken %s (%s) from %s; %d records, rev %s, %d blobs (%.1f MB), all verified",
		dir, man.Created.Local().Format(time.RFC3339), rep.Ago(time.Now()), man.PDS, rep.Summary.Records, man.Repo.Rev, len(rep.Summary.Blobs), units.MB(man.Blobs.Bytes)))
	if note := identity.EarlierKeyNote(rep.Keys, rep.Summary, man.PDS); note != "" {
		lg.prog.Info("backup: " + note)
	}
	for _, l := range rep.Lacks {
		lg.prog.Warn("the backup does not contain " + l)
	}
	if rep.Age(time.Now()) > 24*time.Hour {
		lg.prog.Warn(fmt.Sprintf("the backup was taken %s: anything written after it is not in it", rep.Ago(time.Now())))
	}
	if !lg.identityDone && lg.plcState != nil && !rep.InLog(lg.plcState) {
		lg.prog.Warn("the DID's audit log does not start with the backup's plc-log.json: the identity changed in a way the backup does not know")
	}
	lg.from.src = backup.NewSource(rep)
	store, err := repo.OpenBlobStore(filepath.Join(dir, backup.BlobDir))
	if err != nil {
		return "", err
	}
	lg.from.store = store // the backup's blobs are uploaded from where they are
	if err := lg.data.blobList().Set(rep.Summary.Blobs); err != nil {
		return "", err
	}
	if len(lg.sd.st.OldPDSRotationKeys) == 0 {
		lg.sd.st.OldPDSRotationKeys = man.OldPDSRotationKeys
	}
	if o.NewEmail == "" {
		o.NewEmail = man.Email
	}
	if lg.sd.st.Handle == "" || lg.sd.st.Handle == "handle.invalid" {
		lg.sd.st.Handle = man.Handle
	}
	if err := lg.sd.save(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s) from backup %s (%s), old PDS %s not contacted", lg.sd.st.Handle, lg.did, dir, rep.Ago(time.Now()), lg.sd.st.OldPDS), nil
}

// tempKey is a restore's temporary signing key: with the old PDS gone, the
// run signs the new PDS's createAccount service auth itself.
type tempKey struct {
	*env
	*facts
	sd *stateDir
	to *destination
}

// install makes the DID's atproto key one this run holds, so
// it can sign the new PDS's createAccount service auth while the old PDS is
// gone: a fresh K-256 key (0600 in the state dir), put in the DID document
// by an operation signed with the user's rotation key and posted straight
// to the PLC directory. It happens once: the operation's CID is recorded
// before the submission, and a re-run checks the directory first.
func (tk *tempKey) install(ctx context.Context) error {
	key, err := tk.load(true)
	if err != nil {
		return err
	}
	didKey, err := plc.DIDKey(key)
	if err != nil {
		return err
	}
	st, err := tk.ids.PLC.State(ctx, tk.did)
	if err != nil {
		return fmt.Errorf("read the DID's PLC audit log: %w", err)
	}
	tk.plcState = st
	if st.SigningKey() == didKey {
		return nil // done by an earlier run
	}
	if cid := tk.sd.st.PLC.TempSigningKeyOpCID; cid != "" {
		ok, err := tk.ids.PLC.Applied(ctx, tk.did, cid)
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
	if err := plc.Sign(&op, tk.opts.RotationKey); err != nil {
		return fmt.Errorf("sign the temporary-key operation: %w", err)
	}
	details := "The old PDS is not used. To let the new PDS accept the account, the DID's signing key is\n" +
		"replaced by a temporary key held in " + tk.sd.path(tempKeyFile) + " (a second operation then points the DID at\n" +
		"the new PDS). From now on the old PDS's copy of the repo no longer verifies.\n" + plc.DiffDoc(&st.Op, &op)
	// The new PDS's createAccount checks the service auth against the
	// DID's key: Submit waits until the directory shows the temporary key.
	shown, err := tk.submitter().Submit(ctx, identity.Submission{
		DID: tk.did, State: st, Op: &op, Want: want, Check: identity.OpChecks(2),
		Ask: ui.Confirmation{Question: "Change " + tk.did + "'s signing key to a temporary key?", Details: details,
			What: "the PLC operation", IfNo: "run again when ready"},
		Record: func(cid string) error { tk.sd.st.PLC.TempSigningKeyOpCID = cid; return tk.sd.save() },
		Crash:  "backup-tempkey", Stage: stage.CreateAccount,
	})
	if err != nil {
		return err
	}
	tk.plcState = shown
	tk.prog.Info(fmt.Sprintf("the DID's signing key is now a temporary key (op %s)", tk.sd.st.PLC.TempSigningKeyOpCID))
	return nil
}

// load loads the restore's temporary key, creating it when create is
// set and there is none.
func (tk *tempKey) load(create bool) (atcrypto.PrivateKey, error) {
	p := tk.sd.path(tempKeyFile)
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
	if err := os.MkdirAll(tk.sd.dir, 0o700); err != nil {
		return nil, err
	}
	if err := plc.WriteKeyFile(p, nk); err != nil {
		return nil, err
	}
	return nk, nil
}

// serviceAuth signs the createAccount service-auth token with the
// temporary key that install put in the DID document.
func (tk *tempKey) serviceAuth() (string, error) {
	key, err := tk.load(false)
	if err != nil {
		return "", err
	}
	if tk.to.info == nil || tk.to.info.DID == "" {
		return "", fmt.Errorf("the new PDS's DID is unknown")
	}
	tok, err := plc.ServiceAuthToken(tk.did, tk.to.info.DID, "com.atproto.server.createAccount", serviceAuthTTL, key)
	if err != nil {
		return "", err
	}
	return tok, nil
}

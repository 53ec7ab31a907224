package migrate

import (
	"cmp"
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// login is the login stage: it opens the account's origin, a session on
// the old PDS or, for a restore, the backup.
type login struct {
	*env
	*facts
	sd    *stateDir
	from  *origin
	data  *dataCopy
	found *findings
}

// run logs in to the old PDS (or opens the backup). The DID
// document and both servers were observed before; this stage only opens
// the session the later stages need.
func (lg *login) run(ctx context.Context) (string, error) {
	o := &lg.opts
	did := lg.did
	if lg.sd.st.OldPDS == "" {
		lg.sd.st.OldPDS = lg.world.Old.URL
	}
	if lg.sd.st.OldPDS == "" && o.FromBackup == "" {
		return "", failure.Input(nil, "pass {old-pds} with the old PDS's URL", "cannot tell which PDS the account is moving from")
	}
	if lg.sd.st.Handle == "" && lg.plcState != nil {
		lg.sd.st.Handle = lg.plcState.Handle()
	}
	if o.FromBackup != "" {
		note, err := lg.openBackup(ctx)
		lg.found.backupNote = note
		return note, err
	}

	if lg.plan.Runs(stage.ExportRepo) {
		verifyOptions := func(partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
			return lg.from.repoVerifyOptions(lg.did, lg.plcState, partial)
		}
		lg.data.startEarlyExport(ctx, identity.PointsAt(lg.plcState, newEndpoint(lg.sd.st, lg.opts.NewPDS)), verifyOptions)
	}
	sess, err := lg.logInOld(ctx)
	if err != nil {
		return "", err
	}
	if err := lg.sd.save(); err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s (%s) on %s", lg.sd.st.Handle, did, lg.sd.st.OldPDS)
	if !sess.Active {
		note += fmt.Sprintf(", old account %s", cmp.Or(sess.Status, "inactive"))
	}
	return note, nil
}

// logInOld opens the session on the old PDS that the stages, and the dry
// run, read and sign with.
func (lg *login) logInOld(ctx context.Context) (*pds.Session, error) {
	c := lg.srv.PDS(lg.sd.st.OldPDS, nil)
	sess, err := identity.Login{DID: lg.did, Handle: lg.sd.st.Handle, Password: lg.opts.OldPassword, AuthFactorToken: lg.opts.AuthFactorToken,
		PasswordChoice: failure.ChoiceOldPassword}.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	lg.from.pds, lg.from.sess = c, sess
	if sess.Handle != "" && sess.Handle != "handle.invalid" {
		lg.sd.st.Handle = sess.Handle
	}
	lg.from.src = &transfer.PDSSource{Client: c, DID: lg.did}
	return sess, nil
}

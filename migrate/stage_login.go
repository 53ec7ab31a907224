package migrate

import (
	"cmp"
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// prepare does what every run does before it looks at any server's
// account: it checks the inputs, proves the state dir writable, resolves
// the account to a DID, takes the state dir's lock and loads the state.
// It writes nothing anywhere but the state dir.
func (m *Migrator) prepare(ctx context.Context) error {
	o := &m.opts
	if o.Account == "" {
		return failure.Input(nil, "pass {account} with a handle or a DID", "no account given")
	}
	if o.OldPassword == "" && o.FromBackup == "" {
		return failure.Input(nil, "pass {old-password}", "no password for the old account")
	}
	if o.NewPDS == "" {
		return failure.Input(nil, "pass {new-pds} with the new PDS's URL", "no new PDS given")
	}

	// The state dir must be usable before any server is asked anything.
	root := o.StateDir
	if root == "" {
		r, err := checkpoint.DefaultRoot()
		if err != nil {
			return err
		}
		root = r
	}
	if err := m.do(ctx, Effect{What: "create the state dir " + root}, func(context.Context) error {
		return checkpoint.EnsureWritableDir(root)
	}); err != nil {
		return err
	}

	did, err := m.ids.Resolve(ctx, o.Account)
	if err != nil {
		return err
	}
	m.did = did
	m.sd.dir = o.StateDir
	if m.sd.dir == "" {
		if m.sd.dir, err = checkpoint.DefaultDir(did); err != nil {
			return err
		}
	}
	if err := m.do(ctx, Effect{What: "lock the state dir " + m.sd.dir}, func(context.Context) error {
		unlock, err := checkpoint.Lock(m.sd.dir)
		if err == nil {
			m.unlock = unlock
		}
		return err
	}); err != nil {
		return err
	}
	if err := m.openState(); err != nil {
		m.unlock()
		m.unlock = func() {}
		return err
	}
	return nil
}

// stageLogin logs in to the old PDS (or opens the backup). The DID
// document and both servers were observed before; this stage only opens
// the session the later stages need.
func (m *Migrator) stageLogin(ctx context.Context) (string, error) {
	o := &m.opts
	did := m.did
	if m.sd.st.OldPDS == "" {
		m.sd.st.OldPDS = m.world.Old.URL
	}
	if m.sd.st.OldPDS == "" && o.FromBackup == "" {
		return "", failure.Input(nil, "pass {old-pds} with the old PDS's URL", "cannot tell which PDS the account is moving from")
	}
	if m.sd.st.Handle == "" && m.plcState != nil {
		m.sd.st.Handle = m.plcState.Handle()
	}
	if o.FromBackup != "" {
		note, err := m.openBackupSource(ctx)
		m.found.backupNote = note
		return note, err
	}

	if m.plan.Runs(stage.ExportRepo) {
		verifyOptions := func(partial bool) (repo.VerifyOptions, plc.SigningKeys, error) {
			return m.from.repoVerifyOptions(m.did, m.plcState, partial)
		}
		m.data.startEarlyExport(ctx, identity.PointsAt(m.plcState, newEndpoint(m.sd.st, m.opts.NewPDS)), verifyOptions)
	}
	sess, err := m.logInOld(ctx)
	if err != nil {
		return "", err
	}
	if err := m.sd.save(); err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s (%s) on %s", m.sd.st.Handle, did, m.sd.st.OldPDS)
	if !sess.Active {
		note += fmt.Sprintf(", old account %s", cmp.Or(sess.Status, "inactive"))
	}
	return note, nil
}

// openState loads or creates the state for m.did (see loadRunState).
func (m *Migrator) openState() error {
	st, forgot, err := checkpoint.LoadForRun(m.sd.dir, m.opts.target(m.did))
	if err != nil {
		return err
	}
	if forgot != "" {
		m.prog.Info(fmt.Sprintf("the state dir was for %s, where nothing was written: starting over for %s", forgot, m.opts.NewPDS))
	}
	m.sd.st = st
	return nil
}

// logInOld opens the session on the old PDS that the stages, and the dry
// run, read and sign with.
func (m *Migrator) logInOld(ctx context.Context) (*pds.Session, error) {
	c := m.srv.PDS(m.sd.st.OldPDS, nil)
	sess, err := identity.Login{DID: m.did, Handle: m.sd.st.Handle, Password: m.opts.OldPassword, AuthFactorToken: m.opts.AuthFactorToken,
		PasswordChoice: failure.ChoiceOldPassword}.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	m.from.pds, m.from.sess = c, sess
	if sess.Handle != "" && sess.Handle != "handle.invalid" {
		m.sd.st.Handle = sess.Handle
	}
	m.from.src = &transfer.PDSSource{Client: c, DID: m.did}
	return sess, nil
}

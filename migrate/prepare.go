package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
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

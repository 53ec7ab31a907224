package batch

import (
	"context"
	"fmt"
	"sync"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// invites makes invite codes on the new PDS with its admin password, for
// the rows of the accounts file that bring none. Whether the PDS requires
// invites at all is asked once for the whole batch.
type invites struct {
	adminPassword string

	once     sync.Once
	required bool
	err      error
}

// code creates one invite code on the new PDS when it requires invites
// and the account does not exist there yet; "" when none is needed.
func (v *invites) code(ctx context.Context, o migrate.Options) (string, error) {
	if st, _ := checkpoint.Load(o.StateDir); st != nil && (st.AccountCreated || st.Completed) {
		return "", nil
	}
	c := servers.New(o.HTTPClient, o.Retry, o.Requests, o.Progress).PDS(o.NewPDS, o.NewPDSHeaders)
	v.once.Do(func() {
		info, err := c.DescribeServer(ctx)
		if err != nil {
			v.err = fmt.Errorf("describe %s: %w", o.NewPDS, err)
			return
		}
		v.required = info.InviteCodeRequired
	})
	if v.err != nil {
		return "", v.err
	}
	if !v.required {
		return "", nil
	}
	code, err := c.CreateInviteCode(ctx, v.adminPassword, 1)
	if err != nil {
		if pds.IsTransient(err) {
			return "", fmt.Errorf("create an invite code on %s: %w", o.NewPDS, err)
		}
		return "", &failure.InputError{Msg: "create an invite code on " + o.NewPDS, Hint: "check {new-pds-admin-password}", Err: err}
	}
	return code, nil
}

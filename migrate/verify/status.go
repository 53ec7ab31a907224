package verify

import (
	"cmp"
	"context"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// verifyStatus checks that the new account is active and, when the move
// was to deactivate the old one, that the old one is not.
func verifyStatus(ctx context.Context, o Options, r *Report) {
	if rs, err := o.New.GetRepoStatus(ctx, o.DID); err == nil {
		r.add("new-active", rs.Active, "the new account is %s", statusWord(rs))
	} else {
		r.add("new-active", false, "cannot read the new account's status: %v", err)
	}
	if !o.ExpectOldDown || o.Old == nil {
		return
	}
	if rs, err := o.Old.GetRepoStatus(ctx, o.DID); err == nil {
		r.add("old-deactivated", !rs.Active, "the old account is %s", statusWord(rs))
	} else {
		r.add("old-deactivated", false, "cannot read the old account's status: %v", err)
	}
}

// statusWord is an account's state as the PDS names it ("deactivated",
// "takendown"...), or "inactive" when it names none.
func statusWord(rs *pds.RepoStatus) string {
	if rs.Active {
		return "active"
	}
	return cmp.Or(rs.Status, "inactive")
}

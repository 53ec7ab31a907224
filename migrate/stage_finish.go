package migrate

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// stageActivate activates the new account once the DID points at it.
func (m *Migrator) stageActivate(ctx context.Context) (string, error) {
	st, err := m.new.CheckAccountStatus(ctx)
	if err != nil {
		return "", fmt.Errorf("check the account on %s: %w", m.opts.NewPDS, err)
	}
	if st.Activated {
		return "", skip("already active")
	}
	if err := m.new.ActivateAccount(ctx); err != nil {
		return "", &StageError{Stage: StageActivate, Err: fmt.Errorf("activate the account on %s: %w", m.opts.NewPDS, err),
			Hint: "the DID already points at the new PDS; run the same command again to retry the activation"}
	}
	return "active on " + m.opts.NewPDS, nil
}

// stageDeactivateOld deactivates the old account, and only after the PLC
// directory resolves the DID to the new PDS and the new account is active,
// both read afresh here.
func (m *Migrator) stageDeactivateOld(ctx context.Context) (string, error) {
	if m.opts.NoDeactivateOld {
		return "", skip("--no-deactivate-old")
	}
	if m.old == nil {
		return "", skip("the old PDS is not used (restore from backup)")
	}
	if err := m.requireSwitched(ctx); err != nil {
		return "", err
	}
	rs, err := m.old.GetRepoStatus(ctx, m.did)
	if err == nil && !rs.Active {
		return "", skip("already %s", orDefault(rs.Status, "inactive"))
	}
	crashPoint("before-deactivate")
	if err := m.old.DeactivateAccount(ctx); err != nil {
		return "", &StageError{Stage: StageDeactivateOld, Err: fmt.Errorf("deactivate the account on %s: %w", m.st.OldPDS, err),
			Hint: "the migration itself is complete; run the same command again to retry, or deactivate the old account later"}
	}
	return "deactivated on " + m.st.OldPDS, nil
}

// requireSwitched is the guard in front of deactivation.
func (m *Migrator) requireSwitched(ctx context.Context) error {
	st, err := m.identityState(ctx, m.did)
	if err != nil {
		return fmt.Errorf("read the DID's current document: %w", err)
	}
	if !plcPointsAt(st, m.newEndpoint()) {
		return &StageError{Stage: StageDeactivateOld, Err: fmt.Errorf("the PLC directory still points %s at %s", m.did, st.Endpoint()),
			Hint: "the old account was left active; run the same command again"}
	}
	as, err := m.new.CheckAccountStatus(ctx)
	if err != nil {
		return fmt.Errorf("check the account on %s: %w", m.opts.NewPDS, err)
	}
	if !as.Activated {
		return &StageError{Stage: StageDeactivateOld, Err: fmt.Errorf("the new account on %s is not active", m.opts.NewPDS),
			Hint: "the old account was left active; run the same command again"}
	}
	return nil
}

// stageFinalCheck runs the same checks as `atmigrate verify`, in its quick
// form (commit CIDs rather than a second download of both repos).
func (m *Migrator) stageFinalCheck(ctx context.Context) (string, error) {
	rep, err := Verify(ctx, VerifyOptions{
		DID:           m.did,
		PLC:           m.plc,
		HTTPClient:    m.opts.HTTPClient,
		Old:           m.old,
		New:           m.new,
		NewPDS:        m.newEndpoint(),
		ExpectOldDown: !m.opts.NoDeactivateOld && m.old != nil,
		Quick:         true,
	})
	if err != nil {
		return "", err
	}
	if !rep.OK() {
		return "", &StageError{Stage: StageFinalCheck, Err: fmt.Errorf("the migrated account differs:\n  %s", rep.Problems()),
			Hint: "run `atmigrate verify` for details; the same command again retries the stages that can fix it"}
	}
	return rep.Summary(), nil
}

// checkAlreadyMigrated answers a run after success without changing
// anything: it only confirms that the DID still points at the new PDS.
func (m *Migrator) checkAlreadyMigrated(ctx context.Context) error {
	st, err := m.identityState(ctx, m.did)
	if err != nil {
		return fmt.Errorf("read the DID's current document: %w", err)
	}
	if !plcPointsAt(st, m.newEndpoint()) {
		return &StageError{Stage: StageFinalCheck, Err: fmt.Errorf("the state says this migration finished, but the DID now points at %s", st.Endpoint()),
			Hint: "someone changed the DID since; check `atmigrate plc log` before doing anything else"}
	}
	return ErrAlreadyMigrated
}

var _ = pds.ErrorName

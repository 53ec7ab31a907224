package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

type stageFunc func(ctx context.Context) (note string, err error)

// errSkip marks a stage that had nothing to do; its note says why.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

func (m *Migrator) run(ctx context.Context) error {
	defer m.data.stopEarlyExport()
	if err := m.prepare(ctx); err != nil {
		return err
	}
	defer m.unlock()
	m.sd.startDiskMeter()
	w, err := m.observe(ctx)
	if err != nil {
		return err
	}
	p := plan.Decide(m.invocation(), w, m.sd.st)
	for i, step := range p.Steps {
		// Said of a stage that runs again (the dry run shows it): the
		// walk marks stages done as it goes, an earlier run's are known
		// only now.
		if step.Run && m.sd.st.Done(step.Stage) {
			p.Steps[i].Reason = "done by an earlier run: re-checked against the servers"
		}
	}
	m.world, m.plan, m.planned = w, p, true
	if p.Refusal != nil {
		return p.Refusal
	}
	m.identityDone = w.Switched
	if m.sd.st.OldPDS == "" && w.Old.Known {
		m.sd.st.OldPDS = w.Old.URL
	}
	if m.sd.st.Handle == "" && m.plcState != nil {
		m.sd.st.Handle = m.plcState.Handle()
	}
	if p.Done {
		return failure.ErrAlreadyMigrated
	}
	fns := m.stageTable()
	defer m.data.stopBlobs()
	for _, s := range stage.All {
		step := p.Step(s)
		if !step.Run {
			if err := m.skipStage(s, step.Reason); err != nil {
				return err
			}
			continue
		}
		if m.act.assumed() {
			// A dry run past an effect it recorded: what this stage
			// would do builds on it, so it is described, not walked.
			_ = m.act.act(ctx, Effect{Stage: s, What: s.Description()}, nil)
			continue
		}
		if err := m.runStage(ctx, s, fns[s]); err != nil {
			return err
		}
	}
	if p.Pending != nil {
		return p.Pending
	}
	m.sd.st.Completed = true
	m.sd.st.LastError, m.sd.st.LastErrorStage, m.sd.st.LastStop = "", "", checkpoint.StopCompleted
	m.sd.noteDiskPeak()
	if err := m.sd.save(); err != nil {
		return err
	}
	if !m.opts.KeepData {
		m.sd.removeData(m.prog)
	}
	return nil
}

// stageTable is the step of each stage: a method of the part of the run
// it belongs to, which holds only what the stage reads.
func (m *Migrator) stageTable() map[stage.Stage]stageFunc {
	pf := &preflight{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to, found: &m.found}
	old := &login{env: m.env, facts: m.facts, sd: m.sd, from: m.from, data: m.data, found: &m.found}
	acct := &newAccount{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to}
	fin := &finish{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to, acct: acct}
	cp := &copyStages{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to, data: m.data, found: &m.found}
	ck := &checkStages{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to, data: m.data, copy: cp}
	id := &identityStage{env: m.env, facts: m.facts, sd: m.sd, from: m.from, to: m.to, check: ck}
	net := &downstream{env: m.env, sd: m.sd, to: m.to, acct: acct, seen: &m.seen}
	return map[stage.Stage]stageFunc{
		stage.Login:         old.run,
		stage.Preflight:     pf.run,
		stage.ExportRepo:    cp.exportRepo,
		stage.CreateAccount: acct.create,
		stage.ImportRepo:    cp.importRepo,
		stage.Blobs:         cp.blobs,
		stage.Preferences:   cp.preferences,
		stage.VerifyNew:     ck.verifyNew,
		stage.CatchUp:       ck.catchUp,
		stage.Identity:      id.run,
		stage.Activate:      acct.activate,
		stage.SignCommit:    acct.signCommit,
		stage.DeactivateOld: fin.deactivateOld,
		stage.FinalCheck:    fin.finalCheck,
		stage.Network:       net.run,
	}
}

// skipStage reports a stage the plan leaves out, keeping the note of the
// run that did it.
func (m *Migrator) skipStage(s stage.Stage, reason string) error {
	m.prog.StageSkip(s, reason)
	if prev := m.sd.stageStatus(s); prev != nil && prev.Done {
		return nil
	}
	return m.sd.markDone(s, reason, time.Now())
}

func (m *Migrator) runStage(ctx context.Context, s stage.Stage, fn stageFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.prog.StageStart(s)
	m.current = s
	crashpoint.AtStage("start", string(s))
	start := time.Now()
	note, err := fn(ctx)
	m.timings[s] += time.Since(start)
	if errors.Is(err, errRecorded) {
		return nil // a dry run: the stage's effect is recorded, not made
	}
	var sk errSkip
	if errors.As(err, &sk) {
		m.prog.StageSkip(s, sk.reason)
		note := sk.reason
		if prev := m.sd.stageStatus(s); prev != nil && prev.Done && prev.Note != "" {
			note = prev.Note // keep what the stage did when it ran for real
		}
		return m.sd.markDone(s, note, start)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *failure.StageError
		var ie *failure.InputError
		var rl *failure.RateLimitError
		if errors.As(err, &se) || errors.As(err, &ie) || errors.As(err, &rl) || errors.Is(err, failure.ErrPaused) || errors.Is(err, failure.ErrAlreadyMigrated) {
			return err
		}
		if ae, ok := failure.RateLimited(err); ok {
			return m.rateLimitError(ae, 0, "")
		}
		if failure.IsDiskFull(err) {
			err = m.sd.diskFullError(err, m.data.stillToDownload())
		}
		return failure.Classify(s, err)
	}
	m.prog.StageDone(s, note)
	crashpoint.AtStage("before-checkpoint", string(s))
	if err := m.sd.markDone(s, note, start); err != nil {
		return err
	}
	crashpoint.AtStage("done", string(s))
	return nil
}

func isBusy(err error) bool {
	var be *checkpoint.BusyError
	return errors.As(err, &be)
}

// rateLimitError turns a 429 the client would not wait for into a
// failure.RateLimitError.
func (m *Migrator) rateLimitError(ae *pds.APIError, left int, what string) *failure.RateLimitError {
	return failure.RateLimit(ae, left, what, servers.SameURL(ae.Host, m.opts.NewPDS))
}

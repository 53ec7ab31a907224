package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/crashpoint"
	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Result summarises a finished (or stopped) migration.
type Result struct {
	DID      string
	StateDir string
	State    *checkpoint.State
	Timings  map[stage.Stage]time.Duration
}

// Migrator runs the pipeline for one account. newMigrator makes it whole;
// run (or the dry run) then fills in what the servers say.
type Migrator struct {
	opts Options
	prog ui.Progress
	ui   ui.Prompter
	srv  servers.Clients
	ids  identity.Resolver

	dir string
	st  *checkpoint.State
	j   *checkpoint.Journal // the writer of st

	did      string
	oldSess  *pds.Session
	old      *pds.Client
	new      *pds.Client
	src      transfer.Source
	plcState *plc.State
	newInfo  *pds.ServerInfo
	newKey   atcrypto.PublicKey // the key the new PDS signs the account's commits with
	list     *transfer.List     // the export's blob list
	blobs    *transfer.Blobs    // the blob copy
	early    *transfer.Early    // the repo download started before the login
	// backupStore is the blob store of the backup a restore reads.
	backupStore *repo.BlobStore

	// current is the stage running now, recorded with an interruption.
	current stage.Stage

	// identityDone is true once the PLC directory points at the new PDS:
	// from then on the new PDS is the account's home and nothing may be
	// imported into it again.
	identityDone bool

	// world and plan are what this run observed at its start and what it
	// decided to do from that.
	world plan.World
	plan  plan.Plan
	// unlock releases the state dir's lock.
	unlock func()

	timings map[stage.Stage]time.Duration
}

// Run migrates one account, resuming from its state directory.
func Run(ctx context.Context, opts Options) (*Result, error) {
	m := newMigrator(opts)
	err := m.run(ctx)
	res := &Result{DID: m.did, StateDir: m.dir, State: m.st, Timings: m.timings}
	switch {
	case err == nil, m.st == nil, errors.Is(err, failure.ErrAlreadyMigrated), isBusy(err):
	case errors.Is(err, context.Canceled):
		m.recordError(checkpoint.StopInterrupted, errors.New("interrupted"))
	case errors.Is(err, failure.ErrPaused):
		stop, reason := checkpoint.StopPausedToken, "waiting for the PLC email token ({plc-token})"
		if identity.IsDIDWeb(m.did) { // a did:web has no PLC token: it waits for its document
			stop = checkpoint.StopPausedDIDWeb
		}
		var pe *failure.PauseError
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		m.recordError(stop, errors.New(reason))
	case errors.As(err, new(*failure.InputError)):
		m.recordError(checkpoint.StopFailedPermanent, err)
	default:
		m.recordError(checkpoint.StopFailed, err)
	}
	return res, err
}

// newMigrator is a migration of opts (defaults filled in), with its
// clients, before it has looked at any server.
func newMigrator(opts Options) *Migrator {
	opts.defaults()
	srv := serversFor(opts)
	return &Migrator{opts: opts, prog: opts.Progress, ui: opts.UI, srv: srv, ids: resolverFor(opts, srv),
		timings: map[stage.Stage]time.Duration{}, unlock: func() {}}
}

type stageFunc func(ctx context.Context) (note string, err error)

// errSkip marks a stage that had nothing to do; its note says why.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

func (m *Migrator) run(ctx context.Context) error {
	defer m.stopEarlyExport()
	if err := m.prepare(ctx); err != nil {
		return err
	}
	defer m.unlock()
	w, err := m.observe(ctx)
	if err != nil {
		return err
	}
	plan := plan.Decide(m.invocation(), w, m.st)
	m.world, m.plan = w, plan
	if plan.Refusal != nil {
		return plan.Refusal
	}
	m.identityDone = w.Switched
	if m.st.OldPDS == "" && w.Old.Known {
		m.st.OldPDS = w.Old.URL
	}
	if m.st.Handle == "" && m.plcState != nil {
		m.st.Handle = m.plcState.Handle()
	}
	m.new = m.srv.PDS(m.opts.NewPDS, m.opts.NewPDSHeaders)
	if plan.Done {
		return failure.ErrAlreadyMigrated
	}
	fns := map[stage.Stage]stageFunc{
		stage.Login:         m.stageLogin,
		stage.Preflight:     m.stagePreflight,
		stage.ExportRepo:    m.stageExportRepo,
		stage.CreateAccount: m.stageCreateAccount,
		stage.ImportRepo:    m.stageImportRepo,
		stage.Blobs:         m.stageBlobs,
		stage.Preferences:   m.stagePreferences,
		stage.VerifyNew:     m.stageVerifyNew,
		stage.CatchUp:       m.stageCatchUp,
		stage.Identity:      m.stageIdentity,
		stage.Activate:      m.stageActivate,
		stage.DeactivateOld: m.stageDeactivateOld,
		stage.FinalCheck:    m.stageFinalCheck,
	}
	defer m.stopBlobs()
	for _, s := range stage.All {
		step := plan.Step(s)
		if !step.Run {
			if err := m.skipStage(s, step.Reason); err != nil {
				return err
			}
			continue
		}
		if err := m.runStage(ctx, s, fns[s]); err != nil {
			return err
		}
	}
	if plan.Pending != nil {
		return plan.Pending
	}
	m.st.Completed = true
	m.st.LastError, m.st.LastErrorStage, m.st.LastStop = "", "", checkpoint.StopCompleted
	if err := m.save(); err != nil {
		return err
	}
	if !m.opts.KeepData {
		m.removeData()
	}
	return nil
}

// skipStage reports a stage the plan leaves out, keeping the note of the
// run that did it.
func (m *Migrator) skipStage(s stage.Stage, reason string) error {
	m.prog.StageSkip(s, reason)
	if prev := m.stageStatus(s); prev != nil && prev.Done {
		return nil
	}
	return m.markDone(s, reason, time.Now())
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
	var sk errSkip
	if errors.As(err, &sk) {
		m.prog.StageSkip(s, sk.reason)
		note := sk.reason
		if prev := m.stageStatus(s); prev != nil && prev.Done && prev.Note != "" {
			note = prev.Note // keep what the stage did when it ran for real
		}
		return m.markDone(s, note, start)
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
			err = m.diskFullError(err)
		}
		return failure.Classify(s, err)
	}
	m.prog.StageDone(s, note)
	crashpoint.AtStage("before-checkpoint", string(s))
	if err := m.markDone(s, note, start); err != nil {
		return err
	}
	crashpoint.AtStage("done", string(s))
	return nil
}

func (m *Migrator) markDone(s stage.Stage, note string, start time.Time) error {
	if m.st == nil {
		return nil
	}
	return m.journal().MarkDone(s, note, start)
}

func (m *Migrator) save() error {
	if m.st == nil {
		return nil
	}
	return m.journal().Save()
}

// journal is the writer of m.st, saving to m.dir.
func (m *Migrator) journal() *checkpoint.Journal {
	if m.j == nil || m.j.State() != m.st {
		m.j = checkpoint.NewJournal(m.dir, m.st)
	}
	return m.j
}

func (m *Migrator) recordError(stop checkpoint.Stop, err error) {
	at, msg := m.current, err.Error()
	var se *failure.StageError
	if errors.As(err, &se) {
		at, msg = se.Stage, se.Err.Error()
	}
	m.journal().RecordStop(stop, at, msg)
}

func (m *Migrator) path(name string) string { return filepath.Join(m.dir, name) }

// removeData deletes the copies of the repo and blobs once the migration
// is complete and checked: they are on the new PDS now, and a large
// account's blobs would otherwise sit in the state dir forever. `atmigrate
// export` is the way to keep a backup.
func (m *Migrator) removeData() {
	var freed int64
	for _, name := range []string{"repo.car", "blobs"} {
		p := m.path(name)
		_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				freed += fi.Size()
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			m.prog.Warn(fmt.Sprintf("could not remove %s: %v", p, err))
		}
	}
	matches, _ := filepath.Glob(m.path("diff-*.car"))
	for _, p := range matches {
		os.Remove(p)
	}
	if freed > 0 {
		m.prog.Info(fmt.Sprintf("removed %.1f MB of transfer copies from %s", float64(freed)/1e6, m.dir))
	}
}

func (m *Migrator) stageStatus(s stage.Stage) *checkpoint.StageStatus {
	if m.st == nil {
		return nil
	}
	if ss, ok := m.journal().Status(s); ok {
		return &ss
	}
	return nil
}

// diskFullError says how much space the state dir's disk has and about
// how much more the run still has to write there.
func (m *Migrator) diskFullError(err error) error {
	free, ok := fsutil.FreeBytes(m.dir)
	if !ok {
		return err
	}
	var need int64
	if m.blobs != nil {
		need = m.blobs.StillToDownload()
	}
	if need > 0 {
		return fmt.Errorf("%w (%.1f MB free in %s; about %.1f MB of blobs still to download there)", err, units.MB(free), m.dir, units.MB(need))
	}
	return fmt.Errorf("%w (%.1f MB free in %s)", err, units.MB(free), m.dir)
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

package migrate

import (
	"context"
	"errors"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
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

	// act carries out the run's side effects (the dry run's records them).
	act actor
	// sd is the state dir: the state, its journal and the data files.
	sd *stateDir

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
	// decided to do from that; planned is set once it decided.
	world   plan.World
	plan    plan.Plan
	planned bool
	// preflight is what the preflight found, and backupNote what a
	// restore's backup is; stopErr is what stopped a dry run's walk. The
	// dry run's report reads them.
	preflight  preflightResult
	backupNote string
	stopErr    error
	// keyNote says the exported commit is signed by the DID's earlier key.
	keyNote string
	// unlock releases the state dir's lock.
	unlock func()

	timings map[stage.Stage]time.Duration
}

// Run migrates one account, resuming from its state directory.
func Run(ctx context.Context, opts Options) (*Result, error) {
	m := newMigrator(opts)
	err := m.run(ctx)
	res := &Result{DID: m.did, StateDir: m.sd.dir, State: m.sd.st, Timings: m.timings}
	switch {
	case err == nil, m.sd.st == nil, errors.Is(err, failure.ErrAlreadyMigrated), isBusy(err):
	case errors.Is(err, context.Canceled):
		m.sd.recordError(m.current, checkpoint.StopInterrupted, errors.New("interrupted"))
	case errors.Is(err, failure.ErrPaused):
		stop, reason := checkpoint.StopPausedToken, "waiting for the PLC email token ({plc-token})"
		if identity.IsDIDWeb(m.did) { // a did:web has no PLC token: it waits for its document
			stop = checkpoint.StopPausedDIDWeb
		}
		var pe *failure.PauseError
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		m.sd.recordError(m.current, stop, errors.New(reason))
	case errors.As(err, new(*failure.InputError)):
		m.sd.recordError(m.current, checkpoint.StopFailedPermanent, err)
	default:
		m.sd.recordError(m.current, checkpoint.StopFailed, err)
	}
	return res, err
}

// newMigrator is a migration of opts (defaults filled in), with its
// clients, before it has looked at any server.
func newMigrator(opts Options) *Migrator {
	opts.defaults()
	srv, ids, newPDS := opts.clients()
	return &Migrator{opts: opts, prog: opts.Progress, ui: opts.UI, srv: srv, ids: ids, new: newPDS, act: performer{}, sd: &stateDir{},
		timings: map[stage.Stage]time.Duration{}, unlock: func() {}}
}

package migrate

import (
	"context"
	"errors"
	"time"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

// Result summarises a finished (or stopped) migration.
type Result struct {
	DID      string
	StateDir string
	State    *checkpoint.State
	Timings  map[stage.Stage]time.Duration
	// Network is what the relays and the AppView showed at the end (empty
	// when the run did not get there, or asked none).
	Network network.Seen
}

// Migrator runs the pipeline for one account. newMigrator makes it whole;
// run (or the dry run) then fills in what the servers say.
type Migrator struct {
	*env
	// sd is the state dir: the state, its journal and the data files.
	sd *stateDir

	// from is where the data comes from, to the new PDS, and data the
	// copy of the repo and blobs between them.
	from *origin
	to   *destination
	data *dataCopy
	*facts

	// current is the stage running now, recorded with an interruption.
	current stage.Stage

	// found is what the stages found that only the dry run's report reads.
	found findings
	// seen is what the relays and the AppView showed.
	seen network.Seen
	// unlock releases the state dir's lock.
	unlock func()

	timings map[stage.Stage]time.Duration
}

// Run migrates one account, resuming from its state directory.
func Run(ctx context.Context, opts Options) (*Result, error) {
	m := newMigrator(opts)
	err := m.run(ctx)
	m.sd.noteDiskPeak() // saved with the stop recorded below
	res := &Result{DID: m.did, StateDir: m.sd.dir, State: m.sd.st, Timings: m.timings, Network: m.seen}
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
	e := &env{opts: opts, prog: opts.Progress, ui: opts.UI, srv: srv, ids: ids, act: performer{}}
	sd, from, to := &stateDir{}, &origin{}, &destination{pds: newPDS}
	return &Migrator{env: e, facts: &facts{}, sd: sd, from: from, to: to, data: &dataCopy{env: e, sd: sd, from: from, to: to},
		timings: map[stage.Stage]time.Duration{}, unlock: func() {}}
}

// facts are what the run learns of the account and decides as it goes,
// read and written by the stages: they have this one owner, and every
// stage that needs one holds a pointer to it.
type facts struct {
	// plcState is the DID's state as the run last saw it.
	plcState *plc.State

	// identityDone is true once the PLC directory points at the new PDS:
	// from then on the new PDS is the account's home and nothing may be
	// imported into it again.
	identityDone bool

	// createdNow is set once this run created the account on the new
	// PDS: until the import, that PDS holds only the empty repo it made.
	createdNow bool

	// world and plan are what this run observed at its start and what it
	// decided to do from that; planned is set once it decided.
	world   plan.World
	plan    plan.Plan
	planned bool
}

// env is what every part of one run reads: its options, progress and
// prompter, its clients, its actor and the account's DID (set once the
// run resolved it).
type env struct {
	opts Options
	prog ui.Progress
	ui   ui.Prompter
	srv  servers.Clients
	ids  identity.Resolver
	// act carries out the run's side effects (the dry run's records them).
	act actor
	did string
}

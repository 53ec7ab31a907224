package migrate

import (
	"context"
	"errors"

	"github.com/atmigrate/atmigrate/migrate/stage"
)

// A run's side effects (the state dir taken, an account created, the repo
// imported, blobs uploaded, preferences written, a PLC operation
// submitted, an account activated or deactivated) go through an actor. A
// real run's actor carries each one out; the dry run's records it and
// answers errRecorded, and the run goes on as if it had been done. So the
// dry run walks the very path a real run walks, with the same checks in
// the same order, up to each side effect.

// Effect is one side effect a run makes: the stage that makes it, and what
// it does, in words.
type Effect struct {
	Stage stage.Stage `json:"stage"` // "" before the first stage (the state dir)
	What  string      `json:"what"`
	// aside marks an effect nothing after it reads back (the state dir
	// taken, blobs downloaded ahead of the uploads): recording it does not
	// end the walk.
	aside bool
}

// actor carries out (or records) a run's side effects.
type actor interface {
	// act makes the effect e by calling do, or records it.
	act(ctx context.Context, e Effect, do func(context.Context) error) error
	// assumed reports whether an effect that later stages build on was
	// recorded, not made: from then on a stage can only be described.
	assumed() bool
}

// performer is a real run's actor.
type performer struct{}

func (performer) act(ctx context.Context, _ Effect, do func(context.Context) error) error {
	return do(ctx)
}

func (performer) assumed() bool { return false }

// errRecorded is a recorder's answer: the effect was written down, not
// made. The stage that asked ends there, as if it had been made.
var errRecorded = errors.New("recorded by the dry run, not made")

// recorder is the dry run's actor.
type recorder struct {
	effects []Effect
	built   bool // an effect that later stages build on was recorded
}

func (r *recorder) act(_ context.Context, e Effect, _ func(context.Context) error) error {
	r.effects = append(r.effects, e)
	r.built = r.built || !e.aside
	return errRecorded
}

func (r *recorder) assumed() bool { return r.built }

// do makes an effect that nothing after it reads back (taking the state
// dir): a recorder's errRecorded is no stop for it.
func (e *env) do(ctx context.Context, eff Effect, fn func(context.Context) error) error {
	eff.aside = true
	if err := e.act.act(ctx, eff, fn); !errors.Is(err, errRecorded) {
		return err
	}
	return nil
}

// doubt is what a real run warns of and goes on past, though it may stop
// the run later (a repo over the new PDS's default import limit): a dry
// run cannot tell whether it will.
func (e *env) doubt(msg string) {
	if d, ok := e.prog.(interface{ Doubt(string) }); ok {
		d.Doubt(msg)
		return
	}
	e.prog.Warn(msg)
}

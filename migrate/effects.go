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
	Stage stage.Stage `json:"stage"`
	What  string      `json:"what"`
}

// actor carries out (or records) a run's side effects.
type actor interface {
	// act makes the effect e by calling do, or records it.
	act(ctx context.Context, e Effect, do func(context.Context) error) error
	// recording reports whether effects are recorded instead of made.
	recording() bool
}

// performer is a real run's actor.
type performer struct{}

func (performer) act(ctx context.Context, _ Effect, do func(context.Context) error) error {
	return do(ctx)
}

func (performer) recording() bool { return false }

// errRecorded is a recorder's answer: the effect was written down, not
// made. The stage that asked ends there, as if it had been made.
var errRecorded = errors.New("recorded by the dry run, not made")

// recorder is the dry run's actor.
type recorder struct{ effects []Effect }

func (r *recorder) act(_ context.Context, e Effect, _ func(context.Context) error) error {
	r.effects = append(r.effects, e)
	return errRecorded
}

func (r *recorder) recording() bool { return true }

package stall

import (
	"context"
	"time"
)

// Limits are the idle rules of one run.
type Limits struct {
	// Idle is the window a moving body is judged over, and the wait for
	// the headers of a Quick call. Zero means Default.Idle; negative
	// turns the rules off (no bound at all).
	Idle time.Duration
	// Floor is the fewest bytes a body must move in a window of Idle
	// while it is being read; zero means Default.Floor.
	Floor int64
}

// Default is what a client gets when nobody chose: 30 s covers a loaded
// server's pauses between chunks (the reference PDS streams getRepo in
// 64 KiB chunks) and still ends a silent connection within a minute.
var Default = Limits{Idle: 30 * time.Second, Floor: 1 << 10}

// WithDefaults fills the zero fields from Default.
func (l Limits) WithDefaults() Limits {
	if l.Idle == 0 {
		l.Idle = Default.Idle
	}
	if l.Floor <= 0 {
		l.Floor = Default.Floor
	}
	return l
}

// Off reports limits that bound nothing.
func (l Limits) Off() bool { return l.Idle < 0 }

// Class says how much server time a call needs before its answer starts.
type Class int

const (
	// Quick calls are reads and small writes a server answers from its
	// database in milliseconds: describeServer, getRepoStatus, sessions,
	// listings, PLC reads, did:web, relays, AppViews.
	Quick Class = iota
	// Work calls make the server do real work before it answers: it
	// stores a blob, creates or (de)activates an account, signs or
	// submits a PLC operation (mail, a directory round trip), starts a
	// repo export.
	Work
	// LongWork is importRepo: a large repo on a slow PDS takes minutes
	// to apply before the answer starts.
	LongWork
	// Login is createSession: the server hashes the password first (a
	// second at most), and a login that waits minutes for nothing keeps
	// a person at the prompt: verify logs in to a silent old PDS first.
	Login
)

// Multiples of Idle each class may wait for its headers: 5 and 20
// minutes at the default, generous on purpose, since a loaded PDS's
// createAccount or uploadBlob (measured: over 4 s on the 2-core test
// machine) is slow, not stalled, and an unsafe call is never resent.
const (
	loginFactor    = 3
	workFactor     = 10
	longWorkFactor = 40
)

// HeaderWait is how long a call of class c may wait for its answer's
// headers after its request is sent.
func (l Limits) HeaderWait(c Class) time.Duration {
	l = l.WithDefaults()
	switch c {
	case Work:
		return workFactor * l.Idle
	case LongWork:
		return longWorkFactor * l.Idle
	case Login:
		return loginFactor * l.Idle
	}
	return l.Idle
}

type classKey struct{}

// WithClass marks the requests made with ctx as calls of class c (the
// default is Quick).
func WithClass(ctx context.Context, c Class) context.Context {
	return context.WithValue(ctx, classKey{}, c)
}

func classOf(ctx context.Context) Class {
	c, _ := ctx.Value(classKey{}).(Class)
	return c
}

package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// Call names one logical request for Do: its errors and its Events.
type Call struct {
	// Host is the server's base URL.
	Host string
	// Method names the call: an XRPC NSID, or an HTTP method and path.
	Method string
	// Unsafe marks a call that is not idempotent: it is sent again only
	// when it surely was not processed (see Decide).
	Unsafe bool
}

// Event describes a failed attempt that is about to be retried.
type Event struct {
	// Host is the server's base URL.
	Host string
	// Method names the call (Call.Method).
	Method string
	// Attempt is the number of the attempt that failed (1 = first).
	Attempt int
	// Wait is how long the client now sleeps.
	Wait time.Duration
	// Err is why the attempt failed.
	Err error
	// RateLimited is set when the server answered 429.
	RateLimited bool
}

// Failure is what a client knows about one failed attempt, in the terms
// the policy decides on.
type Failure struct {
	// Status is the HTTP status of the error answer; 0 when no answer
	// came (the transport failed, or the body broke off).
	Status int
	// Reset is the wait a 429 or 503 announced (see After); zero when the
	// server said nothing.
	Reset time.Duration
	// Transient, for Status 0, says that the error is worth another
	// attempt: a network error or a truncated body. The client decides,
	// since some (a stalled or corrupt body) only it can recognise.
	Transient bool
	// Err is the attempt's error.
	Err error
}

// Decide says whether a failed attempt is tried again, after how long,
// and whether the wait is a rate limit's. Every rule about retrying lives
// here:
//   - 429 waits for the announced reset, capped by MaxRateLimitWait (a later
//     reset is not waited for), or backs off when none was announced;
//   - 503 with an announced retry time waits for it, with the same cap;
//   - other 5xx, network errors and truncated bodies back off and retry,
//     except that an unsafe call is resent only when it surely was not
//     processed (a dial error, a 429, a 503 with an announced reset);
//   - any other status (4xx) is final.
func (p Policy) Decide(c Call, f Failure, attempt int) (wait time.Duration, rateLimited, ok bool) {
	switch {
	case f.Status == http.StatusTooManyRequests:
		if f.Reset > p.MaxRateLimitWait {
			return 0, true, false
		}
		if f.Reset > 0 {
			return f.Reset, true, true
		}
		return p.Backoff(attempt), true, true
	case f.Status == http.StatusServiceUnavailable && f.Reset > 0:
		if f.Reset > p.MaxRateLimitWait {
			return 0, false, false
		}
		return f.Reset, false, true
	case f.Status >= 500:
		return p.Backoff(attempt), false, !c.Unsafe
	case f.Status != 0:
		return 0, false, false
	case !f.Transient:
		return 0, false, false
	case c.Unsafe && !IsDialError(f.Err):
		return 0, false, false
	}
	return p.Backoff(attempt), false, true
}

// Do runs try until it succeeds, fails for good, or the policy gives up,
// and returns the last attempt's error unchanged (an error marked with
// Permanent at once, without the mark). A cancelled ctx stops
// everything at once, before any attempt, over any attempt's own error and
// during a wait; its error is returned prefixed with the call's method.
// describe turns an attempt's error into a Failure for Decide; onRetry, if
// set, hears of each wait before it starts.
func (p Policy) Do(ctx context.Context, c Call, try func(context.Context) error, describe func(error) Failure, onRetry func(Event)) error {
	p = p.WithDefaults()
	stalls := 0
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", c.Method, err)
		}
		err := try(ctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %w", c.Method, cerr)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		f := describe(err)
		f.Err = err
		wait, rateLimited, ok := p.Decide(c, f, attempt)
		if errors.Is(err, stall.ErrStalled) {
			stalls++
		}
		if !ok || attempt >= p.MaxAttempts || stalls >= p.MaxStalls {
			return err
		}
		if onRetry != nil {
			onRetry(Event{Host: c.Host, Method: c.Method, Attempt: attempt, Wait: wait, Err: err, RateLimited: rateLimited})
		}
		if err := Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", c.Method, err)
		}
	}
}

// Permanent marks err as final: Do returns it at once, unmarked, whatever
// it wraps (a local file error that looks like a network one, a check
// that already had retries of its own).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err carries Permanent's mark.
func IsPermanent(err error) bool {
	var perm *permanentError
	return errors.As(err, &perm)
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

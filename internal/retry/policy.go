package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy bounds how often and how long a call is retried. Zero fields take
// the value from Default.
type Policy struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int
	// BaseDelay is the first backoff; it doubles per attempt up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// MaxRateLimitWait is the longest a 429 (or a 503 with a retry time)
	// is waited out; a later reset is returned to the caller.
	MaxRateLimitWait time.Duration
	// MaxStalls is how many attempts of one call may stall (see
	// internal/stall) before the call fails: a server that went silent
	// once may answer a fresh connection, one that stalls every time
	// will not, and each stall costs a whole idle limit.
	MaxStalls int
}

// Default is the policy used when a client's policy is left zero.
var Default = Policy{MaxAttempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: 15 * time.Second, MaxRateLimitWait: 10 * time.Minute, MaxStalls: 3}

// WithDefaults fills the zero fields from Default.
func (p Policy) WithDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = Default.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = Default.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = Default.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxRateLimitWait <= 0 {
		p.MaxRateLimitWait = Default.MaxRateLimitWait
	}
	if p.MaxStalls <= 0 {
		p.MaxStalls = Default.MaxStalls
	}
	return p
}

// Backoff is the capped exponential delay before attempt+1, with jitter in
// [d/2, d] so parallel workers do not retry in lockstep.
func (p Policy) Backoff(attempt int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

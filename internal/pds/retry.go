package pds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy bounds how often and how long a call is retried. Zero fields
// take the value from DefaultRetry.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int
	// BaseDelay is the first backoff; it doubles per attempt up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// MaxRateLimitWait is the longest a 429 is waited out; a later reset
	// is returned as an *APIError with RetryAfter set.
	MaxRateLimitWait time.Duration
}

// DefaultRetry is the policy used when Options.Retry is left zero.
var DefaultRetry = RetryPolicy{MaxAttempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: 15 * time.Second, MaxRateLimitWait: 10 * time.Minute}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetry.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetry.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxRateLimitWait <= 0 {
		p.MaxRateLimitWait = DefaultRetry.MaxRateLimitWait
	}
	return p
}

// backoff is the capped exponential delay before attempt+1, with jitter in
// [d/2, d] so parallel workers do not retry in lockstep.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

// RetryEvent describes a failed attempt that is about to be retried.
type RetryEvent struct {
	// Host is the PDS base URL.
	Host string
	// Method is the NSID of the call.
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

// do runs r until it succeeds, fails permanently, or the policy gives up.
// handle consumes a 2xx response; its error is classified like a transport
// error. Every rule about retrying lives here:
//   - a cancelled ctx stops everything at once;
//   - ExpiredToken/InvalidToken on an access-token call triggers one shared
//     refresh and a resend (the body is re-read from offset 0);
//   - 429 waits for the announced reset, capped by MaxRateLimitWait;
//   - network errors, truncated bodies and 5xx back off and retry, except
//     that a non-idempotent call is resent only when it surely was not
//     processed (dial error, 429, 503 with an announced reset);
//   - any other 4xx is returned at once.
func (c *Client) do(ctx context.Context, r *request, handle func(*http.Response) error) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", r.nsid, err)
		}
		gen, err := c.attempt(ctx, r, handle)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %w", r.nsid, cerr)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if gen != 0 && !refreshed && isExpiredToken(err) {
			refreshed = true
			if rerr := c.refreshAfter(ctx, gen); rerr != nil {
				return rerr
			}
			attempt-- // the resend after a refresh is not a failure
			continue
		}
		wait, rateLimited, ok := c.retryable(r, err, attempt)
		if !ok || attempt >= c.retry.MaxAttempts {
			return err
		}
		if c.onRetry != nil {
			c.onRetry(RetryEvent{Host: c.host, Method: r.nsid, Attempt: attempt, Wait: wait, Err: err, RateLimited: rateLimited})
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", r.nsid, err)
		}
	}
}

// retryable decides whether err deserves another attempt and how long to
// wait before it.
func (c *Client) retryable(r *request, err error, attempt int) (wait time.Duration, rateLimited, ok bool) {
	p := c.retry
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusTooManyRequests:
			if ae.RetryAfter > p.MaxRateLimitWait {
				return 0, true, false
			}
			if ae.RetryAfter > 0 {
				return ae.RetryAfter, true, true
			}
			return p.backoff(attempt), true, true
		case ae.Status == http.StatusServiceUnavailable && ae.RetryAfter > 0:
			if ae.RetryAfter > p.MaxRateLimitWait {
				return 0, false, false
			}
			return ae.RetryAfter, false, true
		case ae.Status >= 500:
			return p.backoff(attempt), false, !r.unsafe
		default:
			return 0, false, false
		}
	}
	if !IsTransient(err) {
		return 0, false, false
	}
	if r.unsafe && !isDialError(err) {
		return 0, false, false
	}
	return p.backoff(attempt), false, true
}

// attempt sends r once. gen is the access-token generation it carried.
func (c *Client) attempt(ctx context.Context, r *request, handle func(*http.Response) error) (gen uint64, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wd *watchdog
	if c.stall > 0 {
		wd = newWatchdog(c.stall, func() { cancel(errStalled) })
		defer wd.pause()
	}
	defer func() {
		// A stall surfaces as a cancellation of the attempt's context;
		// report it as the transient error it is.
		var perm *permanentError
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errStalled) &&
			!errors.Is(err, errStalled) && !errors.As(err, &perm) {
			err = fmt.Errorf("%s at %s: no data for %s: %w", r.nsid, c.host, c.stall, errStalled)
		}
	}()
	req, body, gen, err := c.newHTTPRequest(actx, r, wd)
	if err != nil {
		return 0, permanent(err)
	}
	wd.kick()
	undo := func() {
		if body == nil {
			return
		}
		// Stop the transport reading, then take back what was counted.
		if n := body.detach(); n > 0 && r.onBytes != nil {
			r.onBytes(-n)
		}
	}
	if c.requests != nil {
		c.requests.Add(1)
	}
	if h := requestHook; h != nil {
		h()
	}
	resp, err := c.hc.Do(req)
	wd.pause()
	if err != nil {
		undo()
		return gen, err
	}
	c.limits.note(r.nsid, resp.Header, time.Now())
	if wd != nil {
		wd.kick()
		resp.Body = &kickReader{ReadCloser: resp.Body, wd: wd, ctx: actx}
	}
	defer func() {
		if err == nil {
			// Drain a little so the connection can be reused.
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		}
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		undo()
		return gen, newAPIError(resp, r.nsid, c.host, c.secrets(r))
	}
	if handle != nil {
		if err := handle(resp); err != nil {
			undo()
			return gen, err
		}
	}
	if body != nil {
		body.detach()
	}
	return gen, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
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

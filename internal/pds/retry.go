package pds

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/atmigrate/atmigrate/internal/retry"
	"github.com/atmigrate/atmigrate/internal/stall"
)

// RetryPolicy bounds how often and how long a call is retried (see
// internal/retry, whose policy the PLC directory's calls share). Zero
// fields take the value from DefaultRetry.
type RetryPolicy = retry.Policy

// DefaultRetry is the policy used when Options.Retry is left zero.
var DefaultRetry = retry.Default

// RetryEvent describes a failed attempt that is about to be retried; Host
// is the PDS base URL and Method the NSID of the call.
type RetryEvent = retry.Event

// do runs r under the retry policy (retry.Policy.Do and Decide hold the
// rules: cancellation first; 429 waited out until the announced reset;
// network errors, truncated bodies and 5xx retried, a non-idempotent call
// only when it surely was not processed; any other 4xx returned at once).
// handle consumes a 2xx response; its error is classified like a transport
// error. What is the PDS's own: ExpiredToken/InvalidToken on an
// access-token call triggers one shared refresh and a resend (the body is
// re-read from offset 0), which does not count as a failed attempt.
func (c *Client) do(ctx context.Context, r *request, handle func(*http.Response) error) error {
	if err := c.breaker.refuse(r.nsid); err != nil {
		return err
	}
	err := c.doRetried(ctx, r, handle)
	c.breaker.trip(err, breakerWindowOf(c.hc))
	return err
}

// doRetried is do without the stall breaker.
func (c *Client) doRetried(ctx context.Context, r *request, handle func(*http.Response) error) error {
	refreshed := false
	try := func(ctx context.Context) error {
		gen, err := c.attempt(ctx, r, handle)
		if err == nil || gen == 0 || refreshed || !isExpiredToken(err) {
			return err
		}
		refreshed = true
		if rerr := c.refreshAfter(ctx, gen); rerr != nil {
			return retry.Permanent(rerr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err = c.attempt(ctx, r, handle)
		return err
	}
	call := retry.Call{Host: c.host, Method: r.nsid, Unsafe: r.unsafe}
	return c.retry.Do(ctx, call, try, failure, c.onRetry)
}

// failure describes an attempt's error for the retry policy.
func failure(err error) retry.Failure {
	var ae *APIError
	if errors.As(err, &ae) {
		return retry.Failure{Status: ae.Status, Reset: ae.RetryAfter}
	}
	return retry.Failure{Transient: IsTransient(err)}
}

// attempt sends r once. gen is the access-token generation it carried.
func (c *Client) attempt(ctx context.Context, r *request, handle func(*http.Response) error) (gen uint64, err error) {
	req, body, gen, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return 0, retry.Permanent(err)
	}
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
	noteRequest()
	resp, err := c.hc.Do(req)
	if err != nil {
		undo()
		return gen, stall.Plain(err)
	}
	c.limits.note(r.nsid, resp.Header, time.Now())
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

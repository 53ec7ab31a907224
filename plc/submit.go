package plc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/retry"
)

// Submit posts op to the directory (POST /{did}, JSON) and returns nil once
// the directory holds it. A refusal is returned at once as *SubmitError
// carrying the directory's message.
//
// A submission is not idempotent: re-posting an op that was already
// applied is refused with "Invalid signature on op". So it is sent again at
// once only when it surely was not processed (a dial error, a 429, a 503
// with an announced reset). After any other failure (a timeout, a
// connection reset before the answer, a 5xx) the audit log is read first,
// with its own retries: an op the log holds is done, one it lacks is sent
// again, within the same attempts and backoff. A refusal that follows such
// an unanswered attempt is checked against the log once more, since the
// directory refuses a repeat of what it applied, and so is the last failure
// before Submit gives up. When the log cannot be read, Submit stops rather
// than send blind.
//
// A nil error says the directory took the op, not that its read replicas
// show it yet: call Await before reading the DID back.
func (c *Client) Submit(ctx context.Context, did string, op *didplc.RegularOp) error {
	u, err := c.didURL(did)
	if err != nil {
		return err
	}
	body, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("encode plc operation: %w", err)
	}
	cid := OpCID(op)
	unanswered := false // an earlier attempt may have been applied
	pending := false    // the last attempt was one of those
	try := func(ctx context.Context) error {
		pending = false
		if unanswered {
			if ok, err := c.appliedAfterLoss(ctx, did, cid); err != nil || ok {
				return err
			}
		}
		err := c.post(ctx, u, body)
		var se *SubmitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && se.Status < 500 && se.Status != http.StatusTooManyRequests:
			if unanswered {
				return c.refusedAfterLoss(ctx, did, op, err)
			}
			return retry.Permanent(err)
		case !surelyNotProcessed(err):
			unanswered, pending = true, true
		}
		return err
	}
	// Not marked unsafe: try itself reads the log before any resend that
	// needs it, so every failure may be tried again.
	call := retry.Call{Host: c.URL, Method: "POST /" + did}
	err = c.Retry.Do(ctx, call, try, failure, c.OnRetry)
	if err != nil && pending && ctx.Err() == nil {
		// Out of attempts after one whose fate is unknown: the log has
		// the last word before Submit gives up.
		ok, aerr := c.appliedAfterLoss(ctx, did, cid)
		if aerr == nil && ok {
			return nil
		}
		if aerr != nil {
			err = fmt.Errorf("%w (last attempt: %v)", aerr, err)
		}
	}
	if err != nil {
		var se *SubmitError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("submit plc operation %s: %w", cid, err)
	}
	return nil
}

// appliedAfterLoss reads the log to tell whether an unanswered submission
// of cid went through. A failure to read is final: sending again without
// knowing could be refused as a repeat, or mask what happened.
func (c *Client) appliedAfterLoss(ctx context.Context, did, cid string) (bool, error) {
	ok, err := c.Applied(ctx, did, cid)
	if err != nil {
		return false, retry.Permanent(fmt.Errorf("an attempt's answer was lost, and the audit log could not be read to tell whether it was applied: %w", err))
	}
	return ok, nil
}

// refusedAfterLoss judges a refusal that follows an unanswered attempt: the
// directory refuses a repeat of an op it applied, and the log read before
// the resend may have come from a replica that had not caught up. So the
// op is waited for (Await); only when it does not show up is the refusal
// returned.
func (c *Client) refusedAfterLoss(ctx context.Context, did string, op *didplc.RegularOp, refusal error) error {
	_, err := c.Await(ctx, did, op)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return retry.Permanent(fmt.Errorf("%w (after an attempt whose answer was lost; the directory does not show that attempt's operation either: %v)", refusal, err))
}

// surelyNotProcessed reports a failed submission the directory cannot have
// applied: the connection never opened, or it answered 429 or 503 with a
// retry time.
func surelyNotProcessed(err error) bool {
	var se *SubmitError
	if errors.As(err, &se) {
		return se.Status == http.StatusTooManyRequests || (se.Status == http.StatusServiceUnavailable && se.RetryAfter > 0)
	}
	return retry.IsDialError(err)
}

// post sends one submission attempt.
func (c *Client) post(ctx context.Context, u string, body []byte) error {
	resp, err := c.send(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &SubmitError{Status: resp.StatusCode, Message: readMessage(resp.Body), RetryAfter: retry.Announced(resp)}
	}
	// Drain so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	return nil
}

// Applied reports whether an operation with CID opCID is in the DID's log
// and not nullified. Submit uses it after an unanswered attempt; a caller
// that submitted by other means (a PDS's submitPlcOperation) uses it the
// same way. A read replica may lag behind: a false answer right after a
// write is not final (see Await).
func (c *Client) Applied(ctx context.Context, did, opCID string) (bool, error) {
	log, err := c.AuditLog(ctx, did)
	if err != nil {
		return false, err
	}
	for _, e := range log {
		if e.CID == opCID {
			return !e.Nullified, nil
		}
	}
	return false, nil
}

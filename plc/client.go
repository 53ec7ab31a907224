package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
	"github.com/atmigrate/atmigrate/internal/retry"
	"github.com/atmigrate/atmigrate/internal/stall"
)

// maxErrorBytes caps how much of an error body is read for its message.
const maxErrorBytes = 64 << 10

// RetryPolicy is the retry policy of the directory's calls: the same type,
// defaults and rules as the PDS calls' (internal/retry).
type RetryPolicy = retry.Policy

// RetryEvent describes a failed attempt that is about to be retried; Host
// is the directory's URL and Method the request ("GET /{did}/log/audit").
type RetryEvent = retry.Event

// Client talks to a PLC directory over HTTP. It does its own requests
// instead of using didplc.Client so that the directory's error message
// reaches the user: didplc.Client.Submit drops the body into slog and
// returns only the status code.
//
// Every call goes through the retry policy the PDS calls use: reads are
// retried on network errors, bodies cut short, 5xx and 429 (waited out
// until the announced reset, up to MaxRateLimitWait); any other 4xx is
// returned at once with the directory's message. Submit has rules of its
// own, since a submission is not idempotent; Await covers the read replicas
// that lag behind a write.
type Client struct {
	URL       string
	HTTP      *http.Client
	UserAgent string
	// Retry is the retry policy; the zero value means retry.Default.
	Retry RetryPolicy
	// OnRetry, if set, is called before each wait between attempts.
	OnRetry func(RetryEvent)
	// LagWait bounds Await; zero means DefaultLagWait.
	LagWait time.Duration
}

// NewClient returns a client for the directory at url (trailing slashes are
// trimmed) with the default retry policy. hc (nil: a plain client) is put
// under internal/stall's default limits unless its owner already bounded
// it: a directory that never answers, stops or trickles ends the attempt.
func NewClient(url string, hc *http.Client) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: stall.Guard(hc, stall.Limits{}), UserAgent: "atmigrate"}
}

// DirectoryError is a non-2xx answer to a GET on the PLC directory (other
// than 404, which is ErrDIDNotFound).
type DirectoryError struct {
	Status  int
	Message string
	// RetryAfter is the wait a 429 or 503 announced (RateLimit-Reset or
	// Retry-After); zero when the directory said nothing.
	RetryAfter time.Duration
}

func (e *DirectoryError) Error() string {
	return "plc directory: " + statusText(e.Status, e.Message, e.RetryAfter)
}

// statusText formats an error answer: status, message, and when a rate
// limit resets.
func statusText(status int, msg string, after time.Duration) string {
	s := fmt.Sprintf("HTTP %d", status)
	if msg != "" {
		s += ": " + msg
	}
	switch {
	case after <= 0:
	case status == http.StatusTooManyRequests:
		s += fmt.Sprintf(" (rate limited: the limit resets in %s, at %s)", after.Round(time.Second), time.Now().Add(after).UTC().Format("15:04:05 UTC"))
	default:
		s += fmt.Sprintf(" (retry after %s)", after.Round(time.Second))
	}
	return s
}

func (c *Client) httpClient() *http.Client {
	return stall.Guard(c.HTTP, stall.Limits{})
}

func (c *Client) didURL(did string) (string, error) {
	if !strings.HasPrefix(did, "did:plc:") {
		return "", fmt.Errorf("not a did:plc: %q", did)
	}
	return strings.TrimRight(c.URL, "/") + "/" + url.PathEscape(did), nil
}

// send makes one attempt: a GET (body nil) or a POST of a JSON body. A
// request that cannot even be built is final.
func (c *Client) send(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	if body != nil {
		// The directory validates the operation against the whole log
		// before it answers.
		ctx = stall.WithClass(ctx, stall.Work)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "atmigrate"
	}
	req.Header.Set("User-Agent", ua)
	resp, err := c.httpClient().Do(req)
	return resp, stall.Plain(err)
}

// get fetches GET /{did}{suffix} under the retry policy and hands the 200
// body to decode, read through limit (answers.go). An error from decode (a
// body cut short by a reset) is judged like a transport error, so it is
// retried too; an answer over the limit (*bodylimit.TooLargeError) is not.
func (c *Client) get(ctx context.Context, did, suffix string, limit int64, decode func(io.Reader) error) error {
	u, err := c.didURL(did)
	if err != nil {
		return err
	}
	call := retry.Call{Host: c.URL, Method: "GET /" + did + suffix}
	return c.Retry.Do(ctx, call, func(ctx context.Context) error {
		resp, err := c.send(ctx, http.MethodGet, u+suffix, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return ErrDIDNotFound
		case resp.StatusCode != http.StatusOK:
			return &DirectoryError{Status: resp.StatusCode, Message: readMessage(resp.Body), RetryAfter: retry.Announced(resp)}
		}
		return decode(bodylimit.Reader(resp.Body, limit, c.URL, call.Method))
	}, failure, c.OnRetry)
}

// failure describes an attempt's error for the retry policy.
func failure(err error) retry.Failure {
	var de *DirectoryError
	var se *SubmitError
	switch {
	case errors.As(err, &de):
		return retry.Failure{Status: de.Status, Reset: de.RetryAfter}
	case errors.As(err, &se):
		return retry.Failure{Status: se.Status, Reset: se.RetryAfter}
	case errors.Is(err, ErrDIDNotFound):
		return retry.Failure{Status: http.StatusNotFound}
	}
	return retry.Failure{Transient: retry.IsNetworkError(err) || retry.IsCorruptEncoding(err)}
}

// AuditLog fetches GET /{did}/log/audit: every operation of the DID,
// nullified ones included, with createdAt. It does not verify the log; use
// State (or StateFromLog) for that.
func (c *Client) AuditLog(ctx context.Context, did string) ([]didplc.LogEntry, error) {
	var log []didplc.LogEntry
	err := c.get(ctx, did, "/log/audit", maxLogBytes, func(r io.Reader) (err error) {
		log, err = decodeAuditLog(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fetch audit log of %s: %w", did, err)
	}
	return log, nil
}

// Data fetches GET /{did}/data: the DID's current document data as the
// directory serves it to resolvers (the PDS's activateAccount reads it).
// Prev and Sig are nil.
func (c *Client) Data(ctx context.Context, did string) (*didplc.RegularOp, error) {
	var op didplc.RegularOp
	err := c.get(ctx, did, "/data", maxDataBytes, func(r io.Reader) error {
		op = didplc.RegularOp{}
		return decodeJSON(r, &op)
	})
	if err != nil {
		return nil, fmt.Errorf("fetch document data of %s: %w", did, err)
	}
	return &op, nil
}

// State fetches the audit log and verifies it (see StateFromLog).
func (c *Client) State(ctx context.Context, did string) (*State, error) {
	log, err := c.AuditLog(ctx, did)
	if err != nil {
		return nil, err
	}
	return StateFromLog(did, log)
}

// readMessage extracts the PLC's {"message": "..."} (also accepting an
// XRPC-style {"error"}), or falls back to the start of the body.
func readMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBytes))
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &m) == nil {
		switch {
		case m.Message != "" && m.Error != "":
			return m.Error + ": " + m.Message
		case m.Message != "":
			return m.Message
		case m.Error != "":
			return m.Error
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

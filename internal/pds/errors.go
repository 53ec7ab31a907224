package pds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/retry"
)

// ErrCorruptBody marks a response body that was truncated or did not match
// what was asked for (for example a blob whose CID does not match). A
// FetchBlob callback returns an error wrapping it to have the whole fetch
// retried.
var ErrCorruptBody = errors.New("corrupt or truncated body")

// ErrRestartWithTee is wrapped by DownloadRepo when the download had to
// start again from zero after bytes were already copied to the tee writer:
// the caller must reset whatever consumes the tee and call again.
var ErrRestartWithTee = errors.New("download restarted after bytes reached the tee writer")

// errNoSession is returned by calls that need a session when the client
// has none.
var errNoSession = errors.New("no session: log in or create the account first")

// APIError is an XRPC error response: a non-2xx status with, usually, a
// {"error","message"} JSON body.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Name is the XRPC error name ("ExpiredToken", "RepoNotFound", ...),
	// empty when the body carried none.
	Name string
	// Message is the server's human-readable message, with any secret the
	// client knows about redacted.
	Message string
	// Method is the NSID of the call.
	Method string
	// Host is the PDS the call went to.
	Host string
	// RetryAfter is how long the server asked us to wait (429 and 503,
	// from RateLimit-Reset or Retry-After); zero when it did not say.
	RetryAfter time.Duration
	// ResetAt is when that wait ends (zero when RetryAfter is).
	ResetAt time.Time
}

// Error formats the error without any header, token or password.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s: %d", e.Method, e.Host, e.Status)
	name := e.Name
	if name == "" {
		name = http.StatusText(e.Status)
	}
	if name != "" {
		b.WriteString(" " + name)
	}
	if e.Message != "" && e.Message != name {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter.Round(time.Second))
	}
	return b.String()
}

// ErrorName returns the XRPC error name of err, or "" when err is not an
// *APIError.
func ErrorName(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Name
	}
	return ""
}

// IsRepoNotFound reports an answer that says the server hosts no such
// repo: the reference PDS's 400 RepoNotFound, or a plain 404. Anything else
// (a 500, an unknown error) says nothing either way.
func IsRepoNotFound(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Name == "RepoNotFound" || ae.Name == "NotFound" || ae.Status == http.StatusNotFound
}

// IsTransient reports whether err is worth retrying: network errors, 5xx,
// 429, and truncated or corrupt bodies. Context cancellation is not.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, errBodyDetached) {
		return false
	}
	if errors.Is(err, ErrCorruptBody) || errors.Is(err, errStalled) || retry.IsCorruptEncoding(err) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	return retry.IsNetworkError(err)
}

// isExpiredToken reports whether err asks for a fresh access token.
func isExpiredToken(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Status != http.StatusBadRequest && ae.Status != http.StatusUnauthorized {
		return false
	}
	return ae.Name == "ExpiredToken" || ae.Name == "InvalidToken"
}

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// newAPIError builds an *APIError from a non-2xx response, reading at most
// maxErrorBody bytes of the body and redacting secrets from the message.
func newAPIError(resp *http.Response, method, host string, secrets []string) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Host: host}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &body); err == nil {
		e.Name, e.Message = body.Error, body.Message
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		// A proxy's HTML or text page: keep a short, single-line excerpt.
		s = strings.Join(strings.Fields(s), " ")
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		e.Message = s
	}
	e.Name = redact(e.Name, secrets)
	e.Message = redact(e.Message, secrets)
	e.RetryAfter = retry.Announced(resp)
	if e.RetryAfter > 0 {
		e.ResetAt = time.Now().Add(e.RetryAfter)
	}
	return e
}

// RetryAfter reads RateLimit-Reset (epoch seconds) and Retry-After
// (seconds or HTTP date) and returns the longer wait; zero if neither says.
func RetryAfter(h http.Header, now time.Time) time.Duration { return retry.After(h, now) }

// redact replaces every known secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

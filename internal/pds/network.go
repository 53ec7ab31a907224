package pds

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The calls in this file read what relays and AppViews show of an account
// (and nudge a relay with requestCrawl). They carry no credential, even
// on a client with a session: a relay or an AppView is not the account's
// PDS and must never see its tokens. GetRepoStatus (sync.go) asks a relay
// the same way it asks a PDS.

// HandleInvalid is the handle an AppView shows when its last resolution
// of the account's handle failed (or has not been redone since a move).
const HandleInvalid = "handle.invalid"

// NetworkRetry is the retry policy for advisory calls to relays and
// AppViews: a few quick attempts, since their answer only informs the
// user and the caller bounds each call anyway.
var NetworkRetry = RetryPolicy{
	MaxAttempts:      3,
	BaseDelay:        200 * time.Millisecond,
	MaxDelay:         time.Second,
	MaxRateLimitWait: 5 * time.Second,
	// One stall is enough to know a relay will not answer in time.
	MaxStalls: 1,
}

// CapRetry returns p with every field at most NetworkRetry's (a zero
// field takes NetworkRetry's value), so that a policy meant for a
// migration's own calls (minutes of rate-limit waits) cannot stretch an
// advisory call.
func CapRetry(p RetryPolicy) RetryPolicy {
	capped := func(v, limit time.Duration) time.Duration {
		if v <= 0 || v > limit {
			return limit
		}
		return v
	}
	if p.MaxAttempts <= 0 || p.MaxAttempts > NetworkRetry.MaxAttempts {
		p.MaxAttempts = NetworkRetry.MaxAttempts
	}
	p.BaseDelay = capped(p.BaseDelay, NetworkRetry.BaseDelay)
	p.MaxDelay = capped(p.MaxDelay, NetworkRetry.MaxDelay)
	p.MaxRateLimitWait = capped(p.MaxRateLimitWait, NetworkRetry.MaxRateLimitWait)
	if p.MaxStalls <= 0 || p.MaxStalls > NetworkRetry.MaxStalls {
		p.MaxStalls = NetworkRetry.MaxStalls
	}
	return p
}

// RequestCrawl asks a relay to subscribe to the PDS at hostname
// (com.atproto.sync.requestCrawl, {"hostname": ...}, no auth). A refusal
// is an *APIError: the reference relay answers DomainBan (401) for a
// banned domain, HostNotFound (400) when it cannot reach the host,
// BadRequest for localhost or an insecure host, Forbidden when public
// crawl requests are off.
func (c *Client) RequestCrawl(ctx context.Context, hostname string) error {
	const nsid = "com.atproto.sync.requestCrawl"
	r, err := jsonRequest(nsid, map[string]string{"hostname": hostname})
	if err != nil {
		return err
	}
	r.auth = authNone
	return c.do(ctx, r, decodeJSON(nsid, nil))
}

// HostStatus is com.atproto.sync.getHostStatus output: what a relay knows
// of one PDS. Status is "active", "idle", "offline", "throttled" or
// "banned" on the reference relay; Seq is the last event sequence it
// persisted (-1: none).
type HostStatus struct {
	Hostname     string `json:"hostname"`
	Seq          int64  `json:"seq"`
	AccountCount int64  `json:"accountCount"`
	Status       string `json:"status"`
}

// GetHostStatus returns what a relay knows of the PDS at hostname. A host
// the relay has never subscribed to is an *APIError for which
// IsHostNotFound is true.
func (c *Client) GetHostStatus(ctx context.Context, hostname string) (*HostStatus, error) {
	const nsid = "com.atproto.sync.getHostStatus"
	var out HostStatus
	r := &request{nsid: nsid, query: url.Values{"hostname": {hostname}}, auth: authNone}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// Profile is the part of app.bsky.actor.getProfile output that says whom
// an AppView shows: Handle is HandleInvalid when it could not verify the
// account's handle.
type Profile struct {
	DID         string `json:"did"`
	Handle      string `json:"handle"`
	DisplayName string `json:"displayName"`
}

// GetProfile returns how an AppView shows actor (a DID or a handle), from
// app.bsky.actor.getProfile, unauthenticated. An account it does not know
// is an *APIError for which IsProfileNotFound is true; a deactivated or
// taken-down account is one named AccountDeactivated or AccountTakedown.
func (c *Client) GetProfile(ctx context.Context, actor string) (*Profile, error) {
	const nsid = "app.bsky.actor.getProfile"
	var out Profile
	r := &request{nsid: nsid, query: url.Values{"actor": {actor}}, auth: authNone}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// IsHostNotFound reports a relay's answer that it knows no such host:
// HostNotFound, from getHostStatus (404) or requestCrawl (400, the relay
// could not reach the host). A nameless 404 (a server without the
// method) says nothing either way.
func IsHostNotFound(err error) bool {
	return ErrorName(err) == "HostNotFound"
}

// IsProfileNotFound reports an AppView's answer that it has no profile
// for the actor: 400 InvalidRequest "Profile not found" (the bsky
// AppView), or an error named ProfileNotFound.
func IsProfileNotFound(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Name == "ProfileNotFound" {
		return true
	}
	return ae.Status == http.StatusBadRequest && ae.Name == "InvalidRequest" &&
		strings.Contains(strings.ToLower(ae.Message), "profile not found")
}

package pds

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Secrets every fake server uses; no error or retry event may contain them.
const (
	testPassword = "hunter2-correct-horse"
	access1      = "access-jwt-one-AAAA"
	access2      = "access-jwt-two-BBBB"
	refresh1     = "refresh-jwt-one-CCCC"
	refresh2     = "refresh-jwt-two-DDDD"
)

var allSecrets = []string{testPassword, access1, access2, refresh1, refresh2}

// fastRetry keeps backoff in the millisecond range.
var fastRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: 5 * time.Second}

// harness is a fake PDS plus a client pointed at it that records every
// retry event.
type harness struct {
	t        *testing.T
	srv      *httptest.Server
	c        *Client
	requests atomic.Int64
	mu       sync.Mutex
	calls    map[string]int
	events   []RetryEvent
}

func newHarness(t *testing.T, h http.HandlerFunc) *harness {
	t.Helper()
	hs := &harness{t: t, calls: map[string]int{}}
	hs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		hs.calls[strings.TrimPrefix(r.URL.Path, "/xrpc/")]++
		hs.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(hs.srv.Close)
	hs.c = New(hs.srv.URL, Options{
		Retry:    fastRetry,
		Requests: &hs.requests,
		OnRetry: func(e RetryEvent) {
			hs.mu.Lock()
			hs.events = append(hs.events, e)
			hs.mu.Unlock()
		},
	})
	t.Cleanup(func() {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		for _, e := range hs.events {
			assertNoSecrets(t, e.Err)
		}
	})
	return hs
}

func (h *harness) count(nsid string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[nsid]
}

func (h *harness) retryEvents() []RetryEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]RetryEvent(nil), h.events...)
}

// login gives the client the first token pair without a server round trip.
func (h *harness) login() { h.c.setTokens(access1, refresh1, "did:plc:test") }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func xrpcError(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]string{"error": name, "message": msg})
}

// tokenAuth implements the access/refresh dance: access1 is expired,
// access2 is valid, refreshSession swaps refresh1 for the pair 2. It
// answers refreshSession itself and reports whether the request may go on.
func tokenAuth(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if r.URL.Path == "/xrpc/com.atproto.server.refreshSession" {
		if auth != "Bearer "+refresh1 {
			xrpcError(w, 400, "ExpiredToken", "Token has been revoked")
			return false
		}
		writeJSON(w, 200, map[string]any{"accessJwt": access2, "refreshJwt": refresh2, "did": "did:plc:test", "handle": "alice.test"})
		return false
	}
	switch auth {
	case "Bearer " + access2:
		return true
	case "Bearer " + access1:
		xrpcError(w, 400, "ExpiredToken", "Token has expired")
	default:
		xrpcError(w, 401, "AuthMissing", "Authentication Required")
	}
	return false
}

func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range allSecrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret: %q", err.Error())
		}
	}
}

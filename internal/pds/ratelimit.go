package pds

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is what a server's RateLimit-* headers said about one
// method's budget the last time it answered that method. The reference
// PDS sends them on every rate-limited route once its rate limits are on
// (the route's own bucket when it has one, else the global per-IP one),
// and not at all when they are off or the bypass key was sent.
type RateLimit struct {
	// Limit is the bucket's size and Remaining what is left of it.
	Limit, Remaining int
	// Window is the bucket's period (RateLimit-Policy "limit;w=seconds").
	Window time.Duration
	// Reset is when the bucket fills up again.
	Reset time.Time
	// Seen is when the answer came.
	Seen time.Time
}

// rateLimits remembers the last RateLimit seen per method.
type rateLimits struct {
	mu sync.Mutex
	m  map[string]RateLimit
}

func (r *rateLimits) note(nsid string, h http.Header, now time.Time) {
	rl, ok := parseRateLimit(h, now)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]RateLimit{}
	}
	r.m[nsid] = rl
}

func (r *rateLimits) get(nsid string) (RateLimit, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rl, ok := r.m[nsid]
	return rl, ok
}

// maxPolicyWindow is the longest RateLimit-Policy window taken at its word,
// in seconds: a year, far past the reference PDS's longest (a day).
const maxPolicyWindow = 366 * 24 * 60 * 60

// parseRateLimit reads the RateLimit-Limit, -Remaining, -Reset (epoch
// seconds) and -Policy headers; ok is false when there are none.
func parseRateLimit(h http.Header, now time.Time) (RateLimit, bool) {
	limit, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Limit")))
	if err != nil {
		return RateLimit{}, false
	}
	rl := RateLimit{Limit: limit, Remaining: -1, Seen: now}
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining"))); err == nil {
		rl.Remaining = v
	}
	if v, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil {
		rl.Reset = time.Unix(v, 0)
	}
	if _, w, ok := strings.Cut(h.Get("RateLimit-Policy"), ";w="); ok {
		// A window outside (0, a year] is not one a server means: it is
		// left unknown rather than multiplied into an overflowed,
		// negative duration (fuzzing found ";w=9227000000").
		if sec, err := strconv.Atoi(strings.TrimSpace(w)); err == nil && sec > 0 && sec <= maxPolicyWindow {
			rl.Window = time.Duration(sec) * time.Second
		}
	}
	return rl, true
}

// RateLimit returns what the server last said about method nsid's rate
// limit; ok is false when it never sent RateLimit headers for it.
func (c *Client) RateLimit(nsid string) (RateLimit, bool) { return c.limits.get(nsid) }

package retry

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// After reads RateLimit-Reset (epoch seconds) and Retry-After (seconds or
// HTTP date) and returns the longer wait; zero if neither says.
func After(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
			wait = max(wait, time.Unix(sec, 0).Sub(now))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
			wait = max(wait, time.Duration(sec)*time.Second)
		} else if t, err := http.ParseTime(v); err == nil {
			wait = max(wait, t.Sub(now))
		}
	}
	return wait
}

// Announced is the wait a 429 or 503 answer announces (After at now);
// zero for any other status, which announces nothing.
func Announced(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	return After(resp.Header, time.Now())
}

package pds

import (
	"net/http"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzParseRateLimit: a server's RateLimit-* headers, whatever they say,
// give a limit or none, never a panic; a limit read has a window that is
// not negative.
func FuzzParseRateLimit(f *testing.F) {
	f.Add("3000", "2999", "1767225600", "3000;w=300")
	f.Add("1000", "0", "60", "1000;w=86400")
	f.Add("", "", "", "")
	f.Add("-1", "x", "9999999999999999999", ";w=")
	f.Fuzz(func(t *testing.T, limit, remaining, reset, policy string) {
		h := http.Header{}
		h.Set("RateLimit-Limit", limit)
		h.Set("RateLimit-Remaining", remaining)
		h.Set("RateLimit-Reset", reset)
		h.Set("RateLimit-Policy", policy)
		fuzzcheck.Alloc(t, len(limit)+len(remaining)+len(reset)+len(policy), func() {
			rl, ok := parseRateLimit(h, time.Unix(1767225000, 0))
			if ok && rl.Window < 0 {
				t.Fatalf("negative window %v from %q", rl.Window, policy)
			}
		})
	})
}

package retry

import (
	"testing"
	"time"
)

// Moved here from internal/pds with the backoff it tests.
func TestBackoffBounds(t *testing.T) {
	p := Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.WithDefaults()
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for range 50 {
			d := p.Backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
	if p.MaxAttempts != Default.MaxAttempts || p.MaxRateLimitWait != Default.MaxRateLimitWait {
		t.Errorf("defaults not filled: %+v", p)
	}
}

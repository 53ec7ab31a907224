package pds

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// stallBreaker remembers that a call to this server gave up after
// stalling every attempt: the calls that follow within a while fail at
// once with that error, rather than each waiting out stalls of its own.
// verify makes a dozen calls to each server, and found a silent old PDS
// costing a minute at a 2 s limit (a quarter of an hour at the default).
// It closes again after the while, so a long watch asks again later.
type stallBreaker struct {
	mu    sync.Mutex
	err   error
	until time.Time
}

// breakerWindowOf is how long a breaker stays open: a few idle limits of
// the client's transport.
func breakerWindowOf(hc *http.Client) time.Duration {
	if b, ok := hc.Transport.(stall.Bounded); ok && !b.StallLimits().Off() {
		return 3 * b.StallLimits().Idle
	}
	return 3 * stall.Default.Idle
}

// trip opens the breaker when err is a call's final stall.
func (b *stallBreaker) trip(err error, window time.Duration) {
	if !errors.Is(err, stall.ErrStalled) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.until = err, time.Now().Add(window)
}

// refuse returns the error a call gets without being sent while the
// breaker is open, nil otherwise.
func (b *stallBreaker) refuse(nsid string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil || time.Now().After(b.until) {
		b.err = nil
		return nil
	}
	return fmt.Errorf("%s not sent, the server stalled just before: %w", nsid, b.err)
}

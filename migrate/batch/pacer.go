package batch

import (
	"net/http"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/stall"
)

// pacer is an http.RoundTripper shared by every account of a batch. When a
// server answers 429, every request of the batch to the same host and
// method waits until the announced reset before it is sent: one account's
// rate limit slows the whole batch down instead of each account spending
// its retries against a limit the others keep hitting. The retrying itself
// stays with the pds client (which waits for the reset too).
type pacer struct {
	next http.RoundTripper
	// maxHold caps one hold: a longer limit is the client's to wait out
	// (its retry policy waits for the announced reset).
	maxHold time.Duration

	mu    sync.Mutex
	until map[string]time.Time
	// holds counts the 429s that set a hold (tests, reports).
	holds int
}

func newPacer(next http.RoundTripper) *pacer {
	if next == nil {
		next = newBatchTransport()
	}
	if _, ok := next.(stall.Bounded); !ok {
		// Under the pacer, so a hold here is not counted as a server
		// that sends nothing.
		next = &stall.Transport{Base: next}
	}
	return &pacer{next: next, maxHold: time.Minute, until: map[string]time.Time{}}
}

// newBatchTransport is the pds client's keep-alive transport, shared by
// every account so connections are reused across them.
func newBatchTransport() *http.Transport { return pds.NewTransport(64) }

// StallLimits are the limits under the pacer: the clients of the batch
// must not add their own over it, where the holds would count.
func (p *pacer) StallLimits() stall.Limits { return p.next.(stall.Bounded).StallLimits() }

func pacerKey(r *http.Request) string { return r.URL.Host + r.URL.Path }

func (p *pacer) RoundTrip(r *http.Request) (*http.Response, error) {
	key := pacerKey(r)
	p.mu.Lock()
	until := p.until[key]
	p.mu.Unlock()
	if d := time.Until(until); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, r.Context().Err()
		case <-t.C:
		}
	}
	resp, err := p.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		wait := pds.RetryAfter(resp.Header, time.Now())
		if wait <= 0 {
			wait = time.Second
		}
		wait = min(wait, p.maxHold)
		p.mu.Lock()
		if t := time.Now().Add(wait); t.After(p.until[key]) {
			p.until[key] = t
		}
		p.holds++
		p.mu.Unlock()
	}
	return resp, err
}

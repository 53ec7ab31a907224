package pds

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// After a call gives up stalling, the next call to the same server fails
// at once, naming the stall, without a request; after the breaker's
// window it is sent again.
func TestStallBreaker(t *testing.T) {
	var hits atomic.Int64
	silent := make(chan struct{})
	defer close(silent)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-silent:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	c := New(srv.URL, Options{StallTimeout: 100 * time.Millisecond, Retry: RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})

	_, err := c.DescribeServer(context.Background())
	if !errors.Is(err, stall.ErrStalled) {
		t.Fatalf("first call: %v, want a stall", err)
	}
	sent := hits.Load()
	start := time.Now()
	_, err = c.DescribeServer(context.Background())
	if !errors.Is(err, stall.ErrStalled) || hits.Load() != sent || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("second call: %v after %s, %d requests more; want the stall at once, none sent", err, time.Since(start), hits.Load()-sent)
	}
	time.Sleep(350 * time.Millisecond) // 3 idle limits
	_, _ = c.DescribeServer(context.Background())
	if hits.Load() == sent {
		t.Error("after the breaker's window the call was still not sent")
	}
}
